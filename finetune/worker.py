"""The fine-tuning child process: `python -m finetune.worker DATABASE JOB_ID` runs one recorded job."""

from __future__ import annotations

import logging
import os
import signal
import sys

from alerts import AlertStore
from finetune.jobs import DATABASE_VARIABLE, JobStatus, JobStore, ProgressReporter
from finetune.training_job import JobSpec, run_training_job

log = logging.getLogger("finetune.worker")

_NICENESS = 10
"""Training yields the CPU to a live pipeline on the same machine: detection keeps its frame rate first."""


def main(argv: list[str]) -> int:
    database, job_id = argv[0], int(argv[1])
    if database == "-":
        database = os.environ[DATABASE_VARIABLE]
    os.nice(_NICENESS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    store = AlertStore(database)
    jobs = JobStore(store.engine)
    # SIGTERM (cancel) ends the process through SystemExit, so `finally` blocks run and nothing is half-registered.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not jobs.mark_running(job_id, os.getpid()):
        log.info("job %d was cancelled before it started", job_id)
        return 0
    job = jobs.get(job_id)
    try:
        result = run_training_job(JobSpec.from_dict(job.spec), job_id, ProgressReporter(jobs, job_id), str(database))
    except SystemExit:
        jobs.finish(job_id, JobStatus.CANCELLED, error="stopped")
        raise
    except Exception as error:
        log.exception("job %d failed", job_id)
        jobs.finish(job_id, JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
        return 1
    jobs.finish(job_id, JobStatus.SUCCEEDED, result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
