"""Fine-tuning job control on a real database: one active job, enforced by the database, and signals only to the
job's own process, however its pid was reused."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from alerts import AlertStore
from finetune.jobs import (
    HEARTBEAT_TIMEOUT_S,
    ChildProcessLauncher,
    JobBusy,
    JobHeartbeat,
    JobRunner,
    JobStatus,
    JobStore,
)
from finetune.process_identity import ProcessIdentity


@pytest.fixture
def store(tmp_path):
    opened = AlertStore(tmp_path / "vigil.db")
    yield opened
    opened.close()


@pytest.fixture
def stranger():
    """A live process that has nothing to do with any job."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def signals(monkeypatch) -> list[tuple[int, int]]:
    """Every (pid, signal) psutil sends, still sent."""
    sent: list[tuple[int, int]] = []
    send = psutil.Process.send_signal

    def recording(process: psutil.Process, number: int) -> None:
        sent.append((process.pid, number))
        send(process, number)

    monkeypatch.setattr(psutil.Process, "send_signal", recording)
    return sent


def _running_as(store: AlertStore, jobs: JobStore, pid: int, started_earlier_s: float = 0.0) -> int:
    """A running job recorded for `pid`; `started_earlier_s` > 0 makes its recorded process an earlier one."""
    job_id = jobs.create("site", {}, "admin")
    assert jobs.mark_running(job_id, pid)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE training_jobs SET pid_started_at = pid_started_at - ? WHERE id = ?", (started_earlier_s, job_id)
        )
    return job_id


def test_cancel_leaves_alone_a_process_that_reused_the_jobs_pid(tmp_path, store, stranger, signals) -> None:
    jobs = JobStore(store.engine)
    job_id = _running_as(store, jobs, stranger.pid, started_earlier_s=100)
    # Not this runner's child: it goes by the pid.
    JobRunner(jobs, ChildProcessLauncher(tmp_path / "vigil.db")).cancel(job_id, "admin")
    assert signals == [] and stranger.poll() is None
    job = jobs.get(job_id)
    assert (job.status, job.error) == (JobStatus.CANCELLED, "cancelled by admin")


def test_cancel_stops_the_jobs_own_process_in_another_runner(tmp_path, store, stranger, signals) -> None:
    jobs = JobStore(store.engine)
    job_id = _running_as(store, jobs, stranger.pid)
    assert jobs.get(job_id).process == ProcessIdentity.of(stranger.pid)
    JobRunner(jobs, ChildProcessLauncher(tmp_path / "vigil.db")).cancel(job_id, "admin")
    assert signals == [(stranger.pid, signal.SIGTERM)]
    assert stranger.wait(timeout=10) == -signal.SIGTERM
    assert jobs.get(job_id).status == JobStatus.CANCELLED


def test_a_running_job_whose_pid_now_names_another_process_is_reaped(store, stranger) -> None:
    jobs = JobStore(store.engine)
    reused = _running_as(store, jobs, stranger.pid, started_earlier_s=100)
    assert jobs.active() is None
    job = jobs.get(reused)
    assert (job.status, job.error) == (JobStatus.FAILED, "the training process exited without reporting an outcome")
    alive = _running_as(store, jobs, os.getpid())
    assert jobs.active().id == alive, "a job whose recorded process still runs stays active"


def test_concurrent_submits_from_two_connections_make_exactly_one_job(tmp_path, store) -> None:
    stores = [AlertStore(tmp_path / "vigil.db") for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[int | JobBusy] = []

    def submit(job_store: JobStore) -> None:
        start.wait()
        try:
            outcomes.append(job_store.create("site", {}, "admin"))
        except JobBusy as error:
            outcomes.append(error)

    threads = [threading.Thread(target=submit, args=(JobStore(each.engine),)) for each in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for each in stores:
        each.close()
    [created] = [outcome for outcome in outcomes if isinstance(outcome, int)]
    [busy] = [outcome for outcome in outcomes if isinstance(outcome, JobBusy)]
    assert busy.job_id == created and f"fine-tuning job {created} is still running" in str(busy)
    assert [job.id for job in JobStore(store.engine).recent()] == [created]


def test_a_job_cancelled_while_queued_is_not_started_by_its_worker(tmp_path, store) -> None:
    jobs = JobStore(store.engine)
    job_id = jobs.create("site", {}, "admin")
    JobRunner(jobs, ChildProcessLauncher(tmp_path / "vigil.db")).cancel(job_id, "admin")
    assert jobs.mark_running(job_id, os.getpid()) is False
    assert jobs.get(job_id).status == JobStatus.CANCELLED
    assert jobs.create("site", {}, "admin") > job_id, "a finished job is in nobody's way"


def test_a_job_whose_worker_could_not_start_fails_and_blocks_nothing(tmp_path, store) -> None:
    jobs = JobStore(store.engine)
    runner = JobRunner(jobs, ChildProcessLauncher(tmp_path / "vigil.db"))
    (tmp_path / "logs").write_text("a file where the log folder should be")
    with pytest.raises(OSError):
        runner.start("site", {}, "admin", tmp_path / "logs")
    [job] = jobs.recent()
    assert job.status == JobStatus.FAILED and "could not start the training process" in job.error
    assert jobs.active() is None


def test_a_queued_job_whose_worker_died_before_taking_it_up_is_failed(store) -> None:
    jobs = JobStore(store.engine)
    job_id = jobs.create("site", {}, "admin")
    worker = subprocess.Popen(["sleep", "60"])
    jobs.launched(job_id, worker.pid)
    assert jobs.active().id == job_id, "its worker is alive"
    worker.kill()
    worker.wait()
    assert jobs.active() is None and jobs.get(job_id).status == JobStatus.FAILED


def test_a_worker_is_given_a_database_url_in_its_environment_not_on_its_command_line(postgres, tmp_path) -> None:
    url = postgres.database()
    store = AlertStore(url)
    jobs = JobStore(store.engine)
    runner = JobRunner(jobs, ChildProcessLauncher(url))
    job_id = runner.start("site", {}, "admin", tmp_path / "logs")  # an empty spec: the worker fails the job
    child = runner.launcher._children[job_id]
    assert child.wait(120) == 1
    assert child.args[-2:] == ["-", str(job_id)] and url not in " ".join(child.args), "ps shows no password"
    job = jobs.get(job_id)
    assert job.status == JobStatus.FAILED and job.error.startswith("KeyError"), job.error
    store.close()


def _running_elsewhere(store: AlertStore, jobs: JobStore, heard_s_ago: float) -> int:
    """A job running on another machine (a cluster node), last heard from `heard_s_ago` seconds ago."""
    job_id = jobs.create("site", {}, "admin")
    assert jobs.mark_running(job_id, os.getpid())
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE training_jobs SET host = 'gpu-node-7', alive_at = ? WHERE id = ?",
            (datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=heard_s_ago), job_id),
        )
    return job_id


def test_a_job_on_another_machine_is_alive_while_it_beats_and_failed_once_it_is_silent(store, signals) -> None:
    jobs = JobStore(store.engine)
    job_id = _running_elsewhere(store, jobs, heard_s_ago=5)
    assert jobs.active().id == job_id, "its pid means nothing here: its heartbeat says it runs"
    assert jobs.get(job_id).process is None, "another machine's pid is never signalled from here"
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE training_jobs SET alive_at = ? WHERE id = ?", (
            datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=HEARTBEAT_TIMEOUT_S + 1), job_id))
    assert jobs.active() is None
    job = jobs.get(job_id)
    assert job.status == JobStatus.FAILED and "without reporting an outcome" in job.error
    assert not signals


def test_a_job_cancelled_from_a_machine_that_cannot_signal_it_is_stopped_by_its_heartbeat(tmp_path, store,
                                                                                          signals) -> None:
    jobs = JobStore(store.engine)
    job_id = _running_elsewhere(store, jobs, heard_s_ago=1)
    stopped, beats = threading.Event(), threading.Semaphore(0)
    beat = jobs.beat

    def counted(job: int) -> bool:
        running = beat(job)
        beats.release()
        return running

    jobs.beat = counted
    with JobHeartbeat(jobs, job_id, stop=stopped.set, interval_s=0.05):
        assert all(beats.acquire(timeout=10) for _ in range(3)) and not stopped.is_set(), "a running job goes on"
        JobRunner(jobs, ChildProcessLauncher(tmp_path / "vigil.db")).cancel(job_id, "admin")
        assert stopped.wait(10), "its heartbeat saw the cancel and stopped the job"
    assert jobs.get(job_id).status == JobStatus.CANCELLED and not signals
