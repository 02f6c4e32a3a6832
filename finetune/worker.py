"""One recorded fine-tuning job, run to its end: `python -m finetune.worker DATABASE JOB_ID` in a child process,
or `run_job` in a Ray task on a cluster node."""

from __future__ import annotations

import logging
import os
import signal
import sys

from alerts import AlertStore
from finetune.jobs import DATABASE_VARIABLE, JobHeartbeat, JobStatus, JobStore, ProgressReporter
from finetune.training_job import JobSpec, run_training_job

log = logging.getLogger("finetune.worker")

_NICENESS = 10
"""Training yields the CPU to a live pipeline on the same machine: detection keeps its frame rate first."""


def run_job(database: str, job_id: int) -> int:
    """Run job `job_id` of `database` in this process; its exit status (0 also when it was cancelled before)."""
    os.nice(_NICENESS)
    store = AlertStore(database)
    jobs = JobStore(store.engine)
    try:
        if not jobs.mark_running(job_id, os.getpid()):
            log.info("job %d was cancelled before it started", job_id)
            return 0
        with JobHeartbeat(jobs, job_id):
            try:
                spec = JobSpec.from_dict(jobs.get(job_id).spec)
                result = run_training_job(spec, job_id, ProgressReporter(jobs, job_id), database)
            except (SystemExit, KeyboardInterrupt):  # SIGTERM here, or the heartbeat's stop after a remote cancel
                jobs.finish(job_id, JobStatus.CANCELLED, error="stopped")
                raise
            except Exception as error:
                log.exception("job %d failed", job_id)
                jobs.finish(job_id, JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
                return 1
        jobs.finish(job_id, JobStatus.SUCCEEDED, result=result)
        return 0
    finally:
        store.close()


def main(argv: list[str]) -> int:
    database, job_id = argv[0], int(argv[1])
    if database == "-":
        database = os.environ[DATABASE_VARIABLE]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # SIGTERM (cancel) ends the process through SystemExit, so `finally` blocks run and nothing is half-registered.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run_job(database, job_id)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
