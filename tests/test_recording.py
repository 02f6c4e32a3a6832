"""Recording by stream copy from a real RTSP server (GStreamer), indexed in a real SQLite: a minute, a server
killed mid-segment and restarted, and footage exported across segments.

The minute is recorded by tests/background_recording.py in a process of its own, started as the session starts
(tests/conftest.py), so the other tests run meanwhile."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.footage import assemble
from alerts.recordings import Recording, RecordingIndex
from alerts.store import AlertStore
from streamer.segments import start_from_path
from tests.background_recording import CAMERA, RECORDED_S, SEGMENT_S
from tests.conftest import BACKGROUND_RECORDING
from tests.camera_files import ffprobe

pytestmark = pytest.mark.slow

SOURCE = {"codec_name": "h264", "width": 768, "height": 576, "r_frame_rate": "10/1"}
"""The sample video as the RTSP server sends it: H.264 at its own size and 10 fps, a keyframe a second."""
GOP_S = 1.0



@dataclass(frozen=True)
class Session:
    index: RecordingIndex
    before_kill: list[Recording]
    killed: Recording
    after_restart: list[Recording]
    recording_started: datetime


@pytest.fixture(scope="module")
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    """The minute recorded in the background since the session started (see tests/background_recording.py)."""
    background = request.config.stash.get(BACKGROUND_RECORDING, None)
    if background is None:
        pytest.fail("no background recording was started: the sample video is missing (make test fetches it)")
    process, folder, log = background
    try:
        process.wait(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
    assert process.returncode == 0, f"the background recording failed:\n{log.read_text()[-3000:]}"
    facts = json.loads((folder / "session.json").read_text())
    store = AlertStore(folder / "vigil.db")
    index = RecordingIndex(store.engine, folder / "recordings")
    started = datetime.fromisoformat(facts["recording_started"])
    by_id = {r.id: r for r in index.between(CAMERA, started - timedelta(hours=1), started + timedelta(hours=1))}
    yield Session(index, [by_id[i] for i in facts["before_kill"]], by_id[facts["killed"]],
                  [by_id[i] for i in facts["after_restart"]], started)
    store.close()


def test_a_minute_of_segments_tiles_the_time_with_no_gap_or_overlap(session: Session) -> None:
    segments = session.before_kill
    assert (segments[-1].end - segments[0].start).total_seconds() >= RECORDED_S
    assert (segments[0].start - session.recording_started).total_seconds() < SEGMENT_S + 5, (
        "recording starts within a segment (and the stream's probe) of the recorder's start")
    for previous, current in zip(segments, segments[1:]):
        assert abs((current.start - previous.end).total_seconds()) < 0.002, (previous, current)
    for segment in segments[1:-1]:
        assert SEGMENT_S - 0.01 <= (segment.end - segment.start).total_seconds() <= SEGMENT_S + GOP_S + 0.01
        assert segment.keyframes[0] == 0.0, "every segment starts on a keyframe"


def test_ffprobe_reads_every_segment_at_the_sources_rate_and_size(session: Session) -> None:
    for segment in [*session.before_kill, session.killed, *session.after_restart]:
        path = session.index.file(segment)
        info = ffprobe(path)
        assert {key: info[key] for key in SOURCE} == SOURCE, path
        assert (segment.codec, segment.width, segment.height) == ("h264", 768, 576)
        frames = int(info["nb_read_packets"])
        assert abs(frames - 10 * (segment.end - segment.start).total_seconds()) <= 1, (path, frames)
        assert segment.bytes == path.stat().st_size


def test_a_server_killed_mid_segment_leaves_a_valid_segment_a_gap_and_recording_resumes(session: Session) -> None:
    killed, resumed = session.killed, session.after_restart[0]
    assert ffprobe(session.index.file(killed))["duration"] > 0
    assert killed.start == session.before_kill[-1].end, "the killed segment followed on from the last"
    assert (killed.end - killed.start).total_seconds() < SEGMENT_S + GOP_S
    gap = (resumed.start - killed.end).total_seconds()
    assert gap > 0.5, "the outage shows in the index as a gap"
    assert len(session.after_restart) >= 2 and all(ffprobe(session.index.file(s))["duration"] > 0
                                                    for s in session.after_restart)
    open_parts = [start_from_path(part) for part in session.index.root.rglob("*.part")]
    newest = session.after_restart[-1].end - timedelta(milliseconds=1)  # names hold milliseconds
    assert all(start >= newest for start in open_parts), "no half-written file is left behind"


def test_an_export_across_segments_is_one_mp4_of_the_asked_length(session: Session, tmp_path: Path) -> None:
    segments = session.before_kill
    start = segments[1].start + timedelta(seconds=2.5)
    end = segments[4].start + timedelta(seconds=1.5)
    footage = assemble(session.index, CAMERA, start, end, tmp_path / "export.mp4")
    info = ffprobe(footage.path)
    assert {key: info[key] for key in SOURCE} == SOURCE
    asked = (end - start).total_seconds()
    assert start - timedelta(seconds=GOP_S) <= footage.start <= start, "it starts on the keyframe before the start"
    assert abs(info["duration"] - (end - footage.start).total_seconds()) <= GOP_S
    assert abs(int(info["nb_read_packets"]) - 10 * (end - footage.start).total_seconds()) <= 1
    assert asked <= footage.duration_s <= asked + GOP_S + 0.1
    assert footage.segments == 4
