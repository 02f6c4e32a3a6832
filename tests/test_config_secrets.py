"""Secrets stay secret: `${ENV}` values are never echoed, posted shapes are never substituted, URLs are redacted,
and a config that would serve the database or the session key as media is refused."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.redaction import RedactingFilter, redact_text, redact_url
from vigil.config import MAX_POLYGON_POINTS, ConfigError, load_config
from vigil.zone_editing import ShapeEditor

SECRET = "hunter2-s3cret"
CONFIG = """\
cameras:
  lobby:
    url: rtsp://viewer:${CAM_PASSWORD}@10.0.0.5/stream
    zones:
      walkway: [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]]
storage:
  database: db/vigil.db
  media_dir: media
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAM_PASSWORD", SECRET)
    path = tmp_path / "vigil.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize("point", [["${CAM_PASSWORD}", 0.1], [SECRET, 0.1], ["0.1", 0.1], [True, 0.1]],
                         ids=["env reference", "the value itself", "number as text", "boolean"])
def test_posted_points_must_be_numbers_and_are_never_substituted(config_file: Path, point: list) -> None:
    with pytest.raises(ConfigError) as raised:
        ShapeEditor(config_file, pipeline=None).save("lobby", {"walkway": [point, [0.5, 0.0], [0.5, 1.0]]}, {})
    assert raised.value.problems[0].startswith("cameras.lobby.zones.walkway.0.0: Input should be a valid number")
    assert "hunter2" not in str(raised.value) or point == [SECRET, 0.1], "only what was posted may be repeated"
    assert config_file.read_text() == CONFIG


def test_an_invalid_value_from_the_environment_is_named_not_shown(config_file, monkeypatch) -> None:
    monkeypatch.setenv("DETECT_FPS", SECRET)
    config_file.write_text(CONFIG.replace("    zones:", "    detect_fps: ${DETECT_FPS}\n    zones:"))
    with pytest.raises(ConfigError) as raised:
        load_config(config_file)
    [problem] = raised.value.problems
    assert problem.startswith("cameras.lobby.detect_fps: Input should be a valid number")
    assert "${DETECT_FPS}" in problem and "hunter2" not in problem, problem


def test_environment_values_are_scrubbed_from_cross_reference_problems(config_file, monkeypatch) -> None:
    monkeypatch.setenv("ZONE_NAME", "privatezone")
    config_file.write_text(CONFIG + "rules:\n  - {name: r, kind: presence, zone: '${ZONE_NAME}', classes: [person]}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(config_file)
    assert raised.value.problems == ["rules.0.zone: no camera has a zone '${ZONE_NAME}'"]


def test_a_huge_zone_is_refused_quickly_by_its_size(config_file: Path) -> None:
    points = [[i / 200_000, 0.5] for i in range(200_000)]
    with pytest.raises(ConfigError) as raised:
        ShapeEditor(config_file, pipeline=None).save("lobby", {"walkway": points}, {})
    [problem] = raised.value.problems
    assert problem.startswith(f"cameras.lobby.zones.walkway: List should have at most {MAX_POLYGON_POINTS} items")
    assert len(problem) < 300, "the posted value is not repeated whole"
    config_file.write_text(CONFIG.replace("[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]]",
                                          str([[0.1, 0.1]] * (MAX_POLYGON_POINTS + 1))))
    with pytest.raises(ConfigError, match=f"zones.walkway: List should have at most {MAX_POLYGON_POINTS}"):
        load_config(config_file)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("rtsp://admin:p@ss-w0rd@10.0.0.5/s", "rtsp://admin:***@10.0.0.5/s"),
        ("rtsp://admin:pa/ss@10.0.0.5:554/s", "rtsp://admin:***@10.0.0.5:554/s"),
        ("http://10.0.0.5/snap.jpg?user=admin&password=hunter2", "http://10.0.0.5/snap.jpg?user=admin&password=***"),
        ("https://cam/live?token=abc&api_key=k&channel=2", "https://cam/live?token=***&api_key=***&channel=2"),
        ("rtsp://only-a-token@cam/s", "rtsp://***@cam/s"),
        ("rtsp://cam.local:554/s", "rtsp://cam.local:554/s"),
        ("/videos/a.mp4", "/videos/a.mp4"),
    ],
)
def test_urls_are_redacted_up_to_the_last_at_and_in_the_query(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
    assert redact_text(f"camera lobby: {url!r} failed") == f"camera lobby: {redacted!r} failed"


def test_passwords_no_url_parser_finds_are_masked_once_the_config_is_loaded(config_file, monkeypatch) -> None:
    monkeypatch.setenv("CAM_PASSWORD", "q?uote#hash-pw")
    load_config(config_file)
    message = "camera lobby: cannot open rtsp://viewer:q?uote#hash-pw@10.0.0.5/stream (tried 'q?uote#hash-pw')"
    assert "hash-pw" not in redact_text(message), redact_text(message)


def test_every_log_line_and_traceback_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("vigil.test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    logger.warning("opening %s", "rtsp://admin:p@ss-w0rd@cam/s")
    try:
        raise OSError("cannot open rtsp://admin:p@ss-w0rd@cam/s")
    except OSError:
        logger.exception("camera failed")
    assert "ss-w0rd" not in caplog.text and "rtsp://admin:***@cam/s" in caplog.text


@pytest.mark.parametrize(
    ("media_dir", "what"),
    [("db", "the database's folder"), (".", "the database's folder"), ("db/..", "the database's folder")],
    ids=["the database folder", "a folder above it", "the same, spelled with .."],
)
def test_a_media_dir_that_would_serve_the_database_is_refused(config_file, media_dir, what) -> None:
    config_file.write_text(CONFIG.replace("media_dir: media", f"media_dir: {media_dir}"))
    with pytest.raises(ConfigError) as raised:
        load_config(config_file)
    assert raised.value.problems[0].startswith(f"storage.media_dir: {str(config_file.parent / media_dir)!r} contains")
    assert f"contains {what}" in raised.value.problems[0]


def test_check_config_says_so_too(config_file: Path) -> None:
    config_file.write_text(CONFIG.replace("media_dir: media", "media_dir: db"))
    checked = subprocess.run([sys.executable, "-m", "vigil", "check-config", str(config_file)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2 and "storage.media_dir: " in checked.stderr, checked.stderr
