"""Alert clips cut from real recordings of a file camera: the source's rate and size, pre and post, by remux."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from queue import Queue

import pytest

from alerts.clip_cutter import ClipCutter
from alerts.footage import Footage, NoFootage, assemble
from alerts.recording_keeper import RecordingKeeper
from alerts.recording_retention import CameraRetention, Retention, RetentionPolicy
from alerts.recordings import RecordingIndex
from alerts.store import AlertStore
from streamer.recorder import CameraRecorder, RecorderSettings
from streamer.stream_clock import StreamClock
from tests.camera_files import camera_like, ffprobe

CAMERA = "lobby"
SECONDS = 12


@dataclass(frozen=True)
class Recorded:
    index: RecordingIndex
    clock: StreamClock
    """The file's clock: stream time 0 is `clock.epoch`."""
    folder: Path

    def at(self, stream_s: float) -> datetime:
        return self.clock.wall_at(stream_s)



@pytest.fixture(scope="module")
def recorded(sample_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """12 s of the sample scene as a camera sends it (H.264, 10 fps, a keyframe a second), recorded in 4 s segments."""
    folder = tmp_path_factory.mktemp("clips")
    camera_file = folder / "lobby.mp4"
    camera_like(sample_video, camera_file, seconds=SECONDS)
    store = AlertStore(folder / "vigil.db")
    index = RecordingIndex(store.engine, folder / "recordings")
    keeper = RecordingKeeper(index, Retention(index, RetentionPolicy({CAMERA: CameraRetention(days=None)})), [CAMERA])
    clock = StreamClock()
    recorder = CameraRecorder(CAMERA, RecorderSettings(str(camera_file), index.root, segment_s=4), keeper.submit,
                              file_clock=clock)
    keeper.start()
    recorder.start()
    clock.advance(SECONDS)  # the reader has read the whole file, then ends
    clock.close()
    recorder.join(timeout=60)
    keeper.stop()
    yield Recorded(index, clock, folder)
    store.close()


@pytest.fixture
def cutter(recorded: Recorded, tmp_path: Path):
    """A clip cutter on the recordings whose finished clips arrive on a queue; stopped at the end."""
    done: Queue[tuple[str, Footage]] = Queue()
    made = []

    def make(**options) -> ClipCutter:
        cutter = ClipCutter(recorded.index, tmp_path / "media", on_clip=lambda key, footage: done.put((key, footage)),
                            **options)
        cutter.done = done
        cutter.start()
        made.append(cutter)
        return cutter

    yield make
    for cutter in made:
        cutter.stop()


def test_the_recording_covers_the_file_in_segments_on_its_clock(recorded: Recorded) -> None:
    segments = recorded.index.between(CAMERA, recorded.at(0), recorded.at(SECONDS))
    assert [round((s.start - recorded.at(0)).total_seconds(), 3) for s in segments] == [0, 4, 8]
    assert segments[-1].end == recorded.at(SECONDS)


def test_a_clip_runs_at_the_sources_rate_from_pre_s_before_to_post_s_after(recorded: Recorded, cutter) -> None:
    clips = cutter(pre_s=2.5, post_s=1.5)
    clips.alert_started("a1b2c3d4e5f6", CAMERA, recorded.at(4.5))
    clips.alert_ended("a1b2c3d4e5f6", recorded.at(6.0))
    clips.footage_reached(CAMERA, recorded.at(SECONDS))
    key, footage = clips.done.get(timeout=30)
    assert key == "a1b2c3d4e5f6" and footage.path.name.endswith("-a1b2c3d4.mp4")
    assert footage.start == recorded.at(2.0), "from the keyframe at or before 4.5 - 2.5 s"
    assert footage.end == recorded.at(7.5)
    assert footage.segments == 2, "cut across the segment boundary at 4 s"
    info = ffprobe(footage.path)
    assert (info["codec_name"], info["width"], info["height"], info["r_frame_rate"]) == ("h264", 768, 576, "10/1")
    assert int(info["nb_read_packets"]) == 55, "every frame of the camera's 5.5 s, not the detect rate's"


def test_a_clip_waits_for_the_recordings_to_reach_its_end(recorded: Recorded, cutter) -> None:
    clips = cutter(pre_s=0, post_s=1, wait_s=3600)
    clips.alert_started("waiting", CAMERA, recorded.at(1.0))
    clips.alert_ended("waiting", recorded.at(2.0))
    clips.footage_reached(CAMERA, recorded.at(2.5))
    assert clips.done.empty(), "its end (3 s) is not recorded yet"
    clips.footage_reached(CAMERA, recorded.at(4.0))
    key, footage = clips.done.get(timeout=30)
    assert (key, footage.start, footage.end) == ("waiting", recorded.at(1.0), recorded.at(3.0))


def test_a_long_alert_is_cut_at_max_s_while_it_goes_on(recorded: Recorded, cutter) -> None:
    clips = cutter(pre_s=1, post_s=1, max_s=3, footage_now=lambda camera: recorded.at(SECONDS))
    clips.alert_started("long", CAMERA, recorded.at(2.0))
    clips.footage_reached(CAMERA, recorded.at(SECONDS))
    key, footage = clips.done.get(timeout=30)
    assert (key, footage.start, footage.end) == ("long", recorded.at(1.0), recorded.at(4.0))
    clips.alert_ended("long", recorded.at(9.0))  # the end of a clip already cut changes nothing
    clips.stop()
    assert clips.done.empty()


def test_clips_are_skipped_when_disk_space_is_low(recorded: Recorded, cutter) -> None:
    clips = cutter(min_free_mb=1e12)
    clips.alert_started("no-room", CAMERA, recorded.at(5.0))
    clips.alert_ended("no-room", recorded.at(5.0))
    clips.stop()
    assert clips.skipped_clips == 1 and clips.done.empty()


def test_stop_cuts_every_ended_clip_with_what_was_recorded(recorded: Recorded, cutter, caplog) -> None:
    clips = cutter(pre_s=1, post_s=30, wait_s=3600)
    clips.alert_started("at-the-end", CAMERA, recorded.at(10.0))
    clips.alert_ended("at-the-end", recorded.at(11.0))
    clips.alert_started("no-footage", CAMERA, recorded.at(500.0))
    clips.alert_ended("no-footage", recorded.at(501.0))
    with caplog.at_level(logging.WARNING, logger="alerts.clip_cutter"):
        clips.stop()
    key, footage = clips.done.get_nowait()  # on_clip ran before stop() returned
    assert (key, footage.start, footage.end) == ("at-the-end", recorded.at(9.0), recorded.at(SECONDS))
    assert clips.done.empty() and "no-footage" in caplog.text and "nothing recorded" in caplog.text


def test_assemble_refuses_a_range_with_nothing_recorded(recorded: Recorded, tmp_path: Path) -> None:
    with pytest.raises(NoFootage, match="nothing recorded"):
        assemble(recorded.index, CAMERA, recorded.at(100), recorded.at(110), tmp_path / "none.mp4")
    assert not list(tmp_path.iterdir())


def test_a_file_camera_in_a_codec_browsers_cannot_play_is_recorded_as_h264(sample_video: Path, tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "vigil.db")
    segments = []
    clock = StreamClock()
    recorder = CameraRecorder(CAMERA, RecorderSettings(str(sample_video), tmp_path / "recordings", segment_s=2),
                              segments.append, file_clock=clock)
    recorder.start()
    clock.advance(3.0)  # the reader stops after 3 s: the recorder records no further
    clock.close()
    recorder.join(timeout=60)
    store.close()
    assert recorder.status().reencoding, "vtest.avi is MPEG-4 part 2 (DivX 3)"
    assert [round(s.duration_s, 1) for s in segments] == [2.0, 1.1]
    info = ffprobe(segments[0].path)
    assert (info["codec_name"], info["width"], info["height"], info["r_frame_rate"]) == ("h264", 768, 576, "10/1")
