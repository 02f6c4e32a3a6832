"""Fine-tuning jobs: their records in the store, and the runner that starts each in a child process."""

from __future__ import annotations

import _thread
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import psutil
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
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
THIS_HOST = socket.gethostname()
HEARTBEAT_S = 10.0
"""How often a running job's process records that it is alive."""
HEARTBEAT_TIMEOUT_S = 60.0
"""A job running on another machine (a cluster node) whose process was not heard from for this long is dead."""


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
    """The job's process if it is one of this machine's."""
    if row.pid is None or row.pid_started_at is None or row.host not in (None, THIS_HOST):
        return None  # not started, recorded before start times were, or on another machine
    return ProcessIdentity(row.pid, row.pid_started_at)


def _alive(row: TrainingJobRow, now: datetime) -> bool:
    """Its process still runs: looked up by pid on this machine, judged by its heartbeat on another."""
    if row.host not in (None, THIS_HOST):
        return row.alive_at is not None and (now - row.alive_at).total_seconds() < HEARTBEAT_TIMEOUT_S
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
                        host=THIS_HOST, started_at=datetime.now(UTC), alive_at=datetime.now(UTC))
            ).rowcount)

    def beat(self, job_id: int) -> bool:
        """Record that the running job's process is alive; False once the job is no longer running (cancelled)."""
        with Session(self.engine) as session, session.begin():
            return bool(session.execute(
                update(TrainingJobRow).where(TrainingJobRow.id == job_id, TrainingJobRow.status == JobStatus.RUNNING)
                .values(alive_at=datetime.now(UTC))
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
                .values(pid=process.pid, pid_started_at=process.started_at, host=THIS_HOST)
            )

    def reap_dead(self) -> int:
        """Fail queued or running jobs whose process is gone (killed, machine restarted, pid reused, or silent for
        HEARTBEAT_TIMEOUT_S on another machine), and queued ones no process took up within QUEUED_GRACE_S (their
        launcher died); returns how many."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            active = session.scalars(
                select(TrainingJobRow).where(TrainingJobRow.status.in_([str(s) for s in ACTIVE]))
            ).all()
            dead = [row.id for row in active if not _alive(row, now) and (
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


class JobHeartbeat(threading.Thread):
    """While its job runs (`with JobHeartbeat(store, job_id):`), records every HEARTBEAT_S that the process is
    alive; a job cancelled from a machine that cannot signal its process is stopped here, as Ctrl-C would."""

    def __init__(self, store: JobStore, job_id: int, stop: Callable[[], None] = _thread.interrupt_main,
                 interval_s: float = HEARTBEAT_S) -> None:
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self._store = store
        self._job_id = job_id
        self._stop_job = stop
        self._interval_s = interval_s
        self._done = threading.Event()
        self._ending = threading.Lock()
        """Held while the job is stopped, and by `__exit__`: a job that has ended is never interrupted after."""

    def run(self) -> None:
        while not self._done.wait(self._interval_s):
            try:
                running = self._store.beat(self._job_id)
            except SQLAlchemyError as error:  # the database is away a moment: the job goes on, and beats again
                log.warning("job %d: could not record that it is alive: %s", self._job_id, error)
                continue
            if not running:
                with self._ending:
                    if not self._done.is_set():
                        log.info("job %d is no longer running in the database (cancelled): stopping it", self._job_id)
                        self._stop_job()
                return

    def __enter__(self) -> JobHeartbeat:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        with self._ending:
            self._done.set()
        self.join()


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


class JobLauncher(Protocol):
    """Starts the process that runs a recorded job, and stops the ones it started."""

    def launch(self, job_id: int, log_file: Path) -> int | None:
        """Start running job `job_id`, its output in `log_file`; its pid when it runs on this machine."""

    def wait(self, job_id: int, timeout: float | None = None) -> int | None:
        """Wait for one of its jobs to end; its exit status, or None on timeout."""

    def stop(self, job_id: int) -> bool:
        """Stop one of its jobs; False if it did not start that job."""

    def running(self) -> list[int]:
        """The jobs it started that still run."""


class ChildProcessLauncher:
    """Runs each job as `python -m finetune.worker DATABASE JOB` on this machine (DATABASE `-` when it is a URL,
    given in $VIGIL_DATABASE)."""

    def __init__(self, database: str | Path) -> None:
        self.database = str(database)
        self._children: dict[int, subprocess.Popen] = {}

    def launch(self, job_id: int, log_file: Path) -> int | None:
        with open(log_file, "ab") as output:
            url = is_database_url(self.database)
            child = subprocess.Popen(
                [sys.executable, "-m", "finetune.worker", "-" if url else self.database, str(job_id)],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=Path(__file__).resolve().parents[1],
                env={**os.environ, DATABASE_VARIABLE: self.database} if url else None,
            )
        self._children[job_id] = child
        return child.pid

    def wait(self, job_id: int, timeout: float | None = None) -> int | None:
        try:
            return self._children[job_id].wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, job_id: int) -> bool:
        child = self._children.get(job_id)
        if child is None:
            return False
        child.terminate()
        child.wait(timeout=30)
        return True

    def running(self) -> list[int]:
        return [job_id for job_id, child in self._children.items() if child.poll() is None]


class JobRunner:
    """Records each job and has `launcher` run it; cancels any process's job."""

    def __init__(self, store: JobStore, launcher: JobLauncher) -> None:
        self.store = store
        self.launcher = launcher

    def start(self, dataset: str, spec: dict[str, Any], requested_by: str, log_dir: Path) -> int:
        """Record and launch a job; raises JobBusy while another is queued or running."""
        self.store.reap_dead()
        job_id = self.store.create(dataset, spec, requested_by)
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            pid = self.launcher.launch(job_id, log_dir / f"job-{job_id}.log")
        except Exception as error:  # a queued job nobody runs would block every later one (OSError, RayError…)
            self.store.finish(job_id, JobStatus.FAILED, error=f"could not start the training process: {error}")
            raise
        if pid is not None:
            self.store.launched(job_id, pid)
        log.info("fine-tuning job %d started for dataset %s by %s%s", job_id, dataset, requested_by,
                 "" if pid is None else f" (pid {pid})")
        return job_id

    def wait(self, job_id: int, timeout: float | None = None) -> int | None:
        """Wait for one of this runner's jobs to exit; its exit status, or None on timeout."""
        return self.launcher.wait(job_id, timeout)

    def cancel(self, job_id: int, actor: str) -> None:
        """Stop a queued or running job (any process's) and record it as cancelled.

        Another process's job on this machine is signalled only if its recorded process is still the one running
        at that pid; one on another machine stops itself at its next heartbeat.
        """
        job = self.store.get(job_id)
        if job.status not in ACTIVE:
            return
        self.store.finish(job_id, JobStatus.CANCELLED, error=f"cancelled by {actor}")
        if not self.launcher.stop(job_id) and job.process is not None and not job.process.terminate():
            log.warning("fine-tuning job %d: its process %d had already exited; nothing to stop", job_id,
                        job.process.pid)
        log.info("fine-tuning job %d cancelled by %s", job_id, actor)

    def stop(self) -> None:
        """Cancel the jobs this runner started that are still running."""
        for job_id in self.launcher.running():
            self.cancel(job_id, "shutdown")
