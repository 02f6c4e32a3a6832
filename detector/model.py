"""A YOLO detector that runs one inference call on a batch of frames."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import supervision as sv
import torch
from ultralytics import YOLO

from detector.backends import resolve_device
from detector.weights import resolve_weights

log = logging.getLogger(__name__)

__all__ = ["YoloDetector", "read_class_names", "remapped_names", "resolve_device"]


def remapped_names(yolo: YOLO, labels: Mapping[str, str]) -> list[str]:
    """The loaded model's class names after remapping by `labels`, in class-id order."""
    names = yolo.names  # an exported model's backend is loaded anew on every read of `names`
    return [labels.get(names[i], names[i]) for i in range(len(names))]


def read_class_names(model: str, labels: Mapping[str, str]) -> list[str]:
    """The model's class names after remapping, in class-id order."""
    return remapped_names(YOLO(resolve_weights(model), task="detect"), labels)


class YoloDetector:
    """Ultralytics YOLO weights, or their OpenVINO/ONNX/TensorRT export, behind a batch-in, detections-out call.

    Class names are remapped by `labels` (e.g. `Normal` → `person`). `backend`
    and `precision` say what `model` is (`detector.loading` picks them); a
    PyTorch model runs fp16 on CUDA unless `precision` is fp32.

    Example:
        >>> det = YoloDetector("default", imgsz=320)  # doctest: +SKIP
        >>> [d.data["class_name"] for d in det.detect([image])]  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str,
        *,
        imgsz: int = 640,
        conf: float = 0.35,
        iou: float = 0.5,
        device: str = "auto",
        labels: Mapping[str, str] | None = None,
        agnostic_nms: bool = True,
        cpu_threads: int | None = None,
        backend: str = "pytorch",
        precision: str = "auto",
    ) -> None:
        self.weights = resolve_weights(model)
        self.device = resolve_device(device)
        self.backend = backend
        self.half = backend == "pytorch" and self.device.startswith("cuda") and precision != "fp32"
        self.precision = "fp16" if self.half else ("fp32" if precision == "auto" else precision)
        self.cpu_threads = cpu_threads or os.cpu_count() or 1
        self.model = YOLO(self.weights, task="detect")
        """The Ultralytics model; `detect` calls its `predict` with `predict_options`."""
        self.predict_options = {
            "imgsz": imgsz,
            "conf": conf,
            "iou": iou,
            "device": self.device,
            "quantize": 16 if self.half else None,
            "agnostic_nms": agnostic_nms,
            "verbose": False,
        }
        self.class_names = remapped_names(self.model, labels or {})
        self._class_name_array = np.array(self.class_names)
        log.info("detector: %s (%s %s) on %s, classes %s", self.weights, backend, self.precision, self.device,
                 self.class_names)

    def warm_up(self, batch: int = 1, shape: tuple[int, int] = (480, 640)) -> None:
        """Run the model once so the first real batch pays no start-up cost.

        On CPU this also gives torch `cpu_threads` threads: Ultralytics sets
        cores − 1 when its predictor starts, which halves speed on 2 cores. An
        exported model brings its own thread pool; torch (which then only
        letterboxes and runs NMS) gets one thread, so the two do not fight
        over the cores (OpenVINO: 7.5 instead of 7.1 frames/s on 2 cores).
        """
        self.detect([np.zeros((*shape, 3), np.uint8)] * batch)
        if self.device == "cpu":
            torch.set_num_threads(self.cpu_threads if self.backend == "pytorch" else 1)

    def detect(self, images: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detections for each BGR image, in the same order, from one inference call."""
        if not images:
            return []
        results = self.model.predict(list(images), **self.predict_options)
        return [self._to_detections(result) for result in results]

    def _to_detections(self, result) -> sv.Detections:
        detections = sv.Detections.from_ultralytics(result)
        detections.data["class_name"] = self._class_name_array[detections.class_id]
        return detections
