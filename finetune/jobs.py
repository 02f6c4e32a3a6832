"""Fine-tuning jobs: their records in the store, and the runner that starts each in a child process."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.store import is_database_url
from alerts.tables import TrainingJobRow
from finetune.process_identity import ProcessIdentity

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL_S = 1.0
TAUGHT_AP50 = "metrics/taught_AP50(B)"
"""The epoch metric in a job's history that selects the kept weights: mean AP50 of the classes people labelled."""


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
QUEUED_GRACE_S = 60.0
"""A queued job whose worker was never recorded (its launcher died between the two) is failed after this long."""


class JobNotFound(LookupError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no fine-tuning job {job_id}")


class JobBusy(RuntimeError):
    """One fine-tuning job at a time: training takes every core (or the GPU) it can get.

    `job_id` is None when the job in the way ended just after it was in the way.
    """

    def __init__(self, job_id: int | None) -> None:
        self.job_id = job_id
        if job_id is None:
            super().__init__("another fine-tuning job was running a moment ago; try again")
        else:
            super().__init__(f"fine-tuning job {job_id} is still running; wait for it or cancel it")


@dataclass(frozen=True, slots=True)
class TrainingJob:
    id: int
    dataset: str
    status: JobStatus
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    process: ProcessIdentity | None
    """The worker process, once it started."""
    spec: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any]
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat(timespec="seconds")

        return {
            "id": self.id,
            "dataset": self.dataset,
            "status": str(self.status),
            "requested_by": self.requested_by,
            "created_at": text(self.created_at),
            "started_at": text(self.started_at),
            "finished_at": text(self.finished_at),
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
        }


def _job(row: TrainingJobRow) -> TrainingJob:
    return TrainingJob(
        row.id, row.dataset, JobStatus(row.status), row.requested_by, row.created_at, row.started_at,
        row.finished_at, _process(row), row.spec, row.progress, row.result, row.error,
    )


def _process(row: TrainingJobRow) -> ProcessIdentity | None:
    if row.pid is None or row.pid_started_at is None:  # not started, or recorded before start times were
        return None
    return ProcessIdentity(row.pid, row.pid_started_at)


def _alive(row: TrainingJobRow) -> bool:
    process = _process(row)
    return process is not None and process.alive()


class JobStore:
    """Job records in the alert database; each method is one transaction, safe from several processes.

    The database itself holds at most one queued or running job (a unique index), so two requests cannot both
    start one.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, dataset: str, spec: dict[str, Any], requested_by: str) -> int:
        """Record a queued job; raises JobBusy while another is queued or running."""
        row = TrainingJobRow(
            dataset=dataset, status=JobStatus.QUEUED, requested_by=requested_by,
            created_at=datetime.now(UTC), spec=spec, progress={"stage": "queued"}, result={},
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            with Session(self.engine) as session:
                active = session.scalar(
                    select(TrainingJobRow.id).where(TrainingJobRow.status.in_([str(s) for s in ACTIVE]))
                )
            raise JobBusy(active) from None

    def get(self, job_id: int) -> TrainingJob:
        with Session(self.engine) as session:
            row = session.get(TrainingJobRow, job_id)
            if row is None:
                raise JobNotFound(job_id)
            return _job(row)

    def recent(self, limit: int = 50) -> list[TrainingJob]:
        """Newest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(TrainingJobRow).order_by(TrainingJobRow.id.desc()).limit(limit))
            return [_job(row) for row in rows]

    def _set(self, job_id: int, **values: Any) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(update(TrainingJobRow).where(TrainingJobRow.id == job_id).values(**values))

    def mark_running(self, job_id: int, pid: int) -> bool:
        """Record that process `pid` runs the queued job; False if the job is no longer queued (cancelled)."""
        process = ProcessIdentity.of(pid)
        with Session(self.engine) as session, session.begin():
            return bool(session.execute(
                update(TrainingJobRow)
                .where(TrainingJobRow.id == job_id, TrainingJobRow.status == JobStatus.QUEUED)
                .values(status=JobStatus.RUNNING, pid=process.pid, pid_started_at=process.started_at,
                        started_at=datetime.now(UTC))
            ).rowcount)

    def set_progress(self, job_id: int, progress: dict[str, Any]) -> None:
        self._set(job_id, progress=progress)

    def finish(self, job_id: int, status: JobStatus, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Record the outcome; a job already finished (e.g. cancelled meanwhile) keeps its first outcome."""
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(TrainingJobRow)
                .where(TrainingJobRow.id == job_id, TrainingJobRow.status.in_([str(s) for s in ACTIVE]))
                .values(status=status, result=result or {}, error=error, finished_at=datetime.now(UTC))
            )

    def active(self) -> TrainingJob | None:
        """The queued or running job, after marking jobs whose process died as failed."""
        self.reap_dead()
        with Session(self.engine) as session:
            row = session.scalars(
                select(TrainingJobRow).where(TrainingJobRow.status.in_([str(s) for s in ACTIVE]))
            ).first()
            return None if row is None else _job(row)

    def launched(self, job_id: int, pid: int) -> None:
        """Record the queued job's worker process as soon as it is launched, so a worker that dies before it
        starts the job is noticed too."""
        try:
            process = ProcessIdentity.of(pid)
        except psutil.NoSuchProcess:  # gone already; a job it finished keeps its outcome (finish changes active ones)
            self.finish(job_id, JobStatus.FAILED, error="the training process exited before it took up the job")
            return
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(TrainingJobRow).where(TrainingJobRow.id == job_id, TrainingJobRow.pid.is_(None))
                .values(pid=process.pid, pid_started_at=process.started_at)
            )

    def reap_dead(self) -> int:
        """Fail queued or running jobs whose process is gone (killed, machine restarted, pid reused), and queued
        ones no process took up within QUEUED_GRACE_S (their launcher died); returns how many."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            active = session.scalars(
                select(TrainingJobRow).where(TrainingJobRow.status.in_([str(s) for s in ACTIVE]))
            ).all()
            dead = [row.id for row in active if not _alive(row) and (
                row.status == JobStatus.RUNNING or row.pid is not None
                or (now - row.created_at).total_seconds() > QUEUED_GRACE_S
            )]
        for job_id in dead:
            self.finish(job_id, JobStatus.FAILED, error="the training process exited without reporting an outcome")
        return len(dead)

    def last_requested_by(self, requested_by: str) -> TrainingJob | None:
        with Session(self.engine) as session:
            row = session.scalars(
                select(TrainingJobRow).where(TrainingJobRow.requested_by == requested_by)
                .order_by(TrainingJobRow.id.desc()).limit(1)
            ).first()
            return None if row is None else _job(row)


class ProgressReporter:
    """Writes a job's progress to the store, at most once a second except for stage changes and epoch ends."""

    def __init__(self, store: JobStore, job_id: int) -> None:
        self._store = store
        self._job_id = job_id
        self._state: dict[str, Any] = {"stage": "starting", "history": []}
        self._written_at = 0.0
        self._training_started: float | None = None
        self._epoch_s: float | None = None
        """Mean seconds of a training epoch with its validation, once one ended."""

    def stage(self, name: str, message: str = "") -> None:
        self._state.update(stage=name, message=message, done=None, total=None)
        self._write(force=True)

    def fraction(self, name: str, done: int, total: int) -> None:
        """Progress of a stage measured in items (frames evaluated, images imported)."""
        self._state.update(stage=name, done=done, total=total)
        self._write()

    def batch_done(self, progress) -> None:
        if self._training_started is None:
            self._training_started = time.monotonic()
        done = (progress.epoch - 1) * progress.batches + progress.batch
        epochs_left = progress.epochs - progress.epoch + 1 - progress.batch / max(1, progress.batches)
        self._state.update(
            stage="training", epoch=progress.epoch, epochs=progress.epochs, batch=progress.batch,
            batches=progress.batches, losses=progress.losses, done=done, total=progress.epochs * progress.batches,
            eta_s=None if self._epoch_s is None else round(self._epoch_s * epochs_left, 1),
        )
        self._write()

    def epoch_done(self, record) -> None:
        """An epoch with its validation ended: from now on the time left is known (mean epoch × epochs left)."""
        if self._training_started is not None:
            self._epoch_s = (time.monotonic() - self._training_started) / record.epoch
        self._state["history"].append({"epoch": record.epoch, "losses": record.losses, "metrics": record.metrics})
        self._write(force=True)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._written_at >= _PROGRESS_INTERVAL_S:
            self._written_at = now
            self._store.set_progress(self._job_id, dict(self._state))


DATABASE_VARIABLE = "VIGIL_DATABASE"
"""How a worker is told a database URL: in its environment, where `ps` does not show the password."""


class JobRunner:
    """Starts each job as `python -m finetune.worker DATABASE JOB` (DATABASE `-` when it is a URL, given in
    $VIGIL_DATABASE) and keeps track of its own children."""

    def __init__(self, database: str | Path, store: JobStore) -> None:
        self.database = str(database)
        self.store = store
        self._children: dict[int, subprocess.Popen] = {}

    def start(self, dataset: str, spec: dict[str, Any], requested_by: str, log_dir: Path) -> int:
        """Record and launch a job; raises JobBusy while another is queued or running."""
        self.store.reap_dead()
        job_id = self.store.create(dataset, spec, requested_by)
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            with open(log_dir / f"job-{job_id}.log", "ab") as output:
                url = is_database_url(self.database)
                child = subprocess.Popen(
                    [sys.executable, "-m", "finetune.worker", "-" if url else self.database, str(job_id)],
                    stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=Path(__file__).resolve().parents[1],
                    env={**os.environ, DATABASE_VARIABLE: self.database} if url else None,
                )
        except OSError as error:  # a queued job nobody runs would block every later one
            self.store.finish(job_id, JobStatus.FAILED, error=f"could not start the training process: {error}")
            raise
        self.store.launched(job_id, child.pid)
        self._children[job_id] = child
        log.info("fine-tuning job %d started for dataset %s by %s (pid %d)", job_id, dataset, requested_by, child.pid)
        return job_id

    def wait(self, job_id: int, timeout: float | None = None) -> int | None:
        """Wait for one of this runner's jobs to exit; its exit status, or None on timeout."""
        try:
            return self._children[job_id].wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def cancel(self, job_id: int, actor: str) -> None:
        """Stop a queued or running job (any process's) and record it as cancelled.

        Another process's job is signalled only if its recorded process is still the one running at that pid.
        """
        job = self.store.get(job_id)
        if job.status not in ACTIVE:
            return
        self.store.finish(job_id, JobStatus.CANCELLED, error=f"cancelled by {actor}")
        child = self._children.get(job_id)
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
        elif job.process is not None and not job.process.terminate():
            log.warning("fine-tuning job %d: its process %d had already exited; nothing to stop", job_id,
                        job.process.pid)
        log.info("fine-tuning job %d cancelled by %s", job_id, actor)

    def stop(self) -> None:
        """Cancel the jobs this runner started that are still running."""
        for job_id, child in list(self._children.items()):
            if child.poll() is None:
                self.cancel(job_id, "shutdown")
