"""Fine-tuning on a Ray cluster: each job runs as a Ray task, on a GPU beside a detector replica when the cluster
has one, else on a CPU node; the job's record, progress and outcome are in the database as in one process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

import ray
from ray.exceptions import RayError

from streamer.redaction import known_secrets
from vigil.cluster.logs import log_like_vigil
from vigil.cluster.placement import TRAINING_GPU_SHARE

log = logging.getLogger(__name__)


def training_resources(cluster: Mapping[str, float]) -> dict[str, float]:
    """The Ray resources a training task asks for, given the cluster's totals.

    Example:
        >>> training_resources({"CPU": 16.0, "GPU": 2.0}), training_resources({"CPU": 4.0})
        ({'num_cpus': 1, 'num_gpus': 0.49}, {'num_cpus': 1})
    """
    return {"num_cpus": 1, "num_gpus": TRAINING_GPU_SHARE} if cluster.get("GPU", 0) > 0 else {"num_cpus": 1}


@ray.remote(max_calls=1)  # a process of its own, which ends with the job: its niceness and memory go with it
def _training_task(database: str, job_id: int, log_file: str, secrets: tuple[str, ...]) -> int:
    with open(log_file, "a", buffering=1) as output, contextlib.redirect_stdout(output), \
            contextlib.redirect_stderr(output):
        log_like_vigil(secrets)  # to the job's log, masked like every other line of Vigil's
        from finetune.worker import run_job  # here: training's own loggers write to the job's log, as in a child

        log.info("fine-tuning job %d runs as a Ray task on node %s (%s)", job_id,
                 ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address())
        return run_job(database, job_id)


class RayJobLauncher:
    """Starts each recorded job as a Ray task (the job's log in the shared runs folder) and stops its own."""

    def __init__(self, database: str) -> None:
        self._database = database
        """A URL with a password, maybe: it travels as the task's argument, not in its name or environment."""
        self._tasks: dict[int, ray.ObjectRef] = {}

    def launch(self, job_id: int, log_file: Path) -> int | None:
        resources = training_resources(ray.cluster_resources())
        self._tasks[job_id] = _training_task.options(name=f"finetune-job-{job_id}", **resources).remote(
            self._database, job_id, str(log_file), known_secrets())
        log.info("fine-tuning job %d is a Ray task asking for %s", job_id, resources)
        return None  # its process is on whichever node Ray picks: the job records it when it starts

    def wait(self, job_id: int, timeout: float | None = None) -> int | None:
        task = self._tasks[job_id]
        if not ray.wait([task], timeout=timeout)[0]:
            return None
        try:
            return ray.get(task)
        except RayError as error:  # its node was lost, or the task was cancelled
            log.warning("fine-tuning job %d: its Ray task ended with %s", job_id, type(error).__name__)
            return 1

    def stop(self, job_id: int) -> bool:
        """Interrupt the job's task (KeyboardInterrupt, which the job records as cancelled and stops on)."""
        task = self._tasks.get(job_id)
        if task is None:
            return False
        ray.cancel(task)
        return True

    def running(self) -> list[int]:
        return [job_id for job_id, task in list(self._tasks.items()) if not ray.wait([task], timeout=0)[0]]
