"""A camera worker's detector: its batches go to a detector replica of the cluster."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import ray
import supervision as sv
from ray.exceptions import GetTimeoutError, RayActorError

log = logging.getLogger(__name__)

DETECT_TIMEOUT_S = 30.0
"""A replica that answers no batch in this long is taken for gone."""


class RemoteDetector:
    """Stands in a camera worker's pipeline for the replica it was given: the worker's batcher stacks its cameras'
    small detector inputs and `detect` sends them, and only them, to the replica.

    When the replica is gone, that batch fails (the batcher logs and skips it) and the next goes to the replica
    `find_replica` names then: the coordinator restarts replicas and hands out survivors.
    """

    def __init__(self, replica: Any, description: dict[str, Any], find_replica: Callable[[], Any]) -> None:
        self._replica = replica
        self._find_replica = find_replica
        self.class_names: list[str] = list(description["class_names"])
        self.backend: str = description["backend"]
        self.precision: str = description["precision"]
        self.weights: str = description["weights"]
        self.device: str = description["device"]
        """The replica's device (the worker's batch limit follows it)."""

    def detect(self, images: list[np.ndarray]) -> list[sv.Detections]:
        try:
            return ray.get(self._replica.detect.remote(list(images)), timeout=DETECT_TIMEOUT_S)
        except (RayActorError, GetTimeoutError):
            log.warning("detector replica gone; asking the coordinator for another")
            self._replica = self._find_replica()
            raise
