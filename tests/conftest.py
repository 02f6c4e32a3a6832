"""Shared fixtures: the sample video, a small real detector, config files in a temp folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"
CAMERA_VIDEO = ROOT / "data" / "samples" / "lobby.mp4"
"""The same scene as an IP camera sends it (H.264, a keyframe a second): recorded by stream copy, not re-encoded."""
TEST_IMGSZ = 416
"""Small inference size: ~2x faster than 640 on CPU; at 320 the sample scene's people are barely found."""
BACKGROUND_RECORDING = pytest.StashKey[tuple[subprocess.Popen, Path, Path]]()
"""The process recording a minute of RTSP for tests/test_recording.py, its folder, its log."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the minute of RTSP recording tests/test_recording.py checks, so that it runs while other tests do."""
    if session.config.option.collectonly or not SAMPLE_VIDEO.is_file() \
            or not any(item.path.name == "test_recording.py" for item in session.items):
        return
    folder = Path(tempfile.mkdtemp(prefix="vigil-background-recording-"))
    log = folder / "recording.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "tests.background_recording", str(SAMPLE_VIDEO), str(folder)],
                                   cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # its RTSP server goes with it (killpg below)
    session.config.stash[BACKGROUND_RECORDING] = (process, folder, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    started = session.config.stash.get(BACKGROUND_RECORDING, None)
    if started is None:
        return
    process, folder, _log = started
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def sample_video() -> Path:
    if not SAMPLE_VIDEO.is_file():
        pytest.fail(f"{SAMPLE_VIDEO} is missing: run `make test`, which fetches it")
    return SAMPLE_VIDEO


@pytest.fixture(scope="session")
def camera_video() -> Path:
    if not CAMERA_VIDEO.is_file():
        pytest.fail(f"{CAMERA_VIDEO} is missing: run `make test`, which makes it")
    return CAMERA_VIDEO


@pytest.fixture(scope="session")
def small_detector():
    """The bundled default model at a small input size, loaded once per test session."""
    from detector import DEFAULT_LABELS, YoloDetector

    detector = YoloDetector("default", imgsz=TEST_IMGSZ, device="cpu", labels=DEFAULT_LABELS)
    detector.warm_up()
    return detector


@pytest.fixture(scope="session")
def shared_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of the base model's backend exports (OpenVINO, …) for every `vigil run` of the session."""
    return tmp_path_factory.mktemp("exports")


def share_exports(folder: Path, shared: Path) -> None:
    """Point the registry of a config in `folder` (default `finetune.models_dir`) at the session's exports, so
    the base model is exported once per session instead of once per run (7 s each here)."""
    exports = folder / "data" / "models" / "exports"
    if not exports.exists():
        exports.parent.mkdir(parents=True, exist_ok=True)
        exports.symlink_to(shared, target_is_directory=True)


@pytest.fixture
def write_config(tmp_path: Path, shared_exports: Path):
    """Writes a config mapping as YAML into the test's temp folder and returns its path; a config that keeps the
    default models folder shares the session's exports."""

    def write(config: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        if "models_dir" not in config.get("finetune", {}):
            share_exports(tmp_path, shared_exports)
        return path

    return write


@pytest.fixture(scope="module")
def users_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dashboard database with one user per role (hashing is slow: made once per module, copied per test)."""
    from tests.dashboard_support import users_database

    return users_database(tmp_path_factory.mktemp("users"))


@pytest.fixture
def site(tmp_path: Path, users_db: Path):
    """A dashboard app on a real SQLite copy of `users_db`, with its store closed afterwards."""
    from tests.dashboard_support import build_site

    built = build_site(tmp_path, users_db)
    yield built
    built.store.close()


@pytest.fixture(scope="session")
def pseudo_labeler():
    """The default model as a pseudo-labeller (class-aware NMS) at a small input size."""
    from detector import DEFAULT_LABELS, YoloDetector
    from finetune.pseudo_labels import PseudoLabeler

    detector = YoloDetector("default", imgsz=320, conf=0.25, device="cpu", labels=DEFAULT_LABELS, agnostic_nms=False)
    detector.warm_up()
    return PseudoLabeler(detector, min_score=0.4, class_min_score={"fallen_person": 0.7})


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session (tests/postgres.py); each test takes a database of its own."""
    from tests.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store test keeps its alerts: a SQLite file, then an empty PostgreSQL database (the same tests)."""
    if request.param == "sqlite":
        return str(tmp_path / "vigil.db")
    return request.getfixturevalue("postgres").database()
