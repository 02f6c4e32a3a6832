"""Segment files: a `.part` that a crash left keeps its fragments, salvaged into a finished segment."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av

from streamer.segments import PART_SUFFIX, SegmentWriter, read_segment, salvage_part, segment_path
from tests.camera_files import camera_like, ffprobe

START = datetime(2026, 12, 1, 9, 30, 5, 250_000, tzinfo=UTC)


def test_a_part_left_by_a_crash_is_salvaged_with_every_whole_fragment(sample_video: Path, tmp_path: Path) -> None:
    source = camera_like(sample_video, tmp_path / "camera.mp4", seconds=8)
    final = segment_path(tmp_path / "recordings", "gate", START)
    with av.open(str(source)) as camera:
        stream = camera.streams.video[0]
        writer = SegmentWriter("gate", final, START, stream)
        for packet in camera.demux(stream):
            if packet.dts is not None:
                writer.add_packet(packet, float(packet.pts * stream.time_base), 0.1)
        # What a kill -9 leaves on disk: the fragments written so far (the last GOP is still in the muxer).
        left = final.with_name(final.name + PART_SUFFIX)
        crashed = tmp_path / "crashed" / final.relative_to(tmp_path / "recordings")
        crashed.parent.mkdir(parents=True)
        shutil.copy(left, crashed.with_name(left.name))
        writer.close()

    segment = salvage_part("gate", crashed.with_name(left.name))
    assert segment is not None and segment.path == crashed and segment.start == START.replace(microsecond=250_000)
    assert 6.9 <= segment.duration_s <= 8.0, "all but the fragment being written at the kill"
    assert segment.keyframes[:3] == (0.0, 1.0, 2.0)
    assert not list(crashed.parent.glob("*.part")) and not list(crashed.parent.glob("*.salvage"))
    info = ffprobe(crashed)
    assert (info["codec_name"], info["width"], info["height"]) == ("h264", 768, 576)
    assert read_segment("gate", crashed).end == segment.end


def test_an_unreadable_part_is_deleted(tmp_path: Path) -> None:
    part = segment_path(tmp_path, "gate", START)
    part = part.with_name(part.name + PART_SUFFIX)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"not a video")
    assert salvage_part("gate", part) is None
    assert not any(part.parent.iterdir())


def test_segment_names_hold_the_start_to_the_millisecond(tmp_path: Path) -> None:
    path = segment_path(tmp_path, "gate", START + timedelta(microseconds=999))
    assert path.relative_to(tmp_path).as_posix() == "gate/2026-12-01/09/3005.250.mp4"
