"""Footage cut from recordings: the segments over a time range remuxed into one MP4, with no re-encode."""

from __future__ import annotations

import bisect
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.error

from alerts.recordings import Recording, RecordingIndex

log = logging.getLogger(__name__)

_TIME_BASE = Fraction(1, 90_000)


class NoFootage(LookupError):
    """Nothing was recorded on the camera over the asked range."""


@dataclass(frozen=True, slots=True)
class Footage:
    """An assembled MP4: it starts on the keyframe at or before the asked start, so `start` may be earlier."""

    path: Path
    camera: str
    start: datetime
    end: datetime
    segments: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def assemble(index: RecordingIndex, camera: str, start: datetime, end: datetime, out: Path,
             progress: Callable[[int, int], None] = lambda done, total: None) -> Footage:
    """Write the camera's recorded video over [start, end) to `out` (MP4, moov first, so it plays as it loads).

    Gaps in the recording stay gaps in time (the last picture holds). Footage stops early where the stream's
    format changes (codec or size), which one MP4 track cannot hold. `progress(done, total)` follows the
    segments. Raises NoFootage when nothing overlaps.
    """
    recordings = index.between(camera, start, end)
    if not recordings:
        raise NoFootage(f"{camera}: nothing recorded between {start.isoformat()} and {end.isoformat()}")
    first = recordings[0]
    keyframe_s = _keyframe_at_or_before(first, start)
    footage_start = first.start + timedelta(seconds=keyframe_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        footage_end, used = _remux(index, recordings, footage_start, keyframe_s, end, part, progress)
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return Footage(out, camera, footage_start, footage_end, used)


def _keyframe_at_or_before(recording: Recording, at: datetime) -> float:
    offset = (at - recording.start).total_seconds()
    keyframes = recording.keyframes or (0.0,)
    return keyframes[max(0, bisect.bisect_right(keyframes, offset + 1e-6) - 1)]


def _remux(index: RecordingIndex, recordings: list[Recording], footage_start: datetime, skip_s: float,
           end: datetime, part: Path, progress: Callable[[int, int], None]) -> tuple[datetime, int]:
    first = recordings[0]
    output = av.open(str(part), "w", format="mp4", options={"movflags": "+faststart"})
    output.metadata["creation_time"] = footage_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out_stream = None
    last_dts = -1
    footage_end = footage_start
    used = 0
    try:
        for done, recording in enumerate(recordings, start=1):
            if (recording.codec, recording.width, recording.height) != (first.codec, first.width, first.height):
                log.warning("%s: footage stops at %s, where the stream changes from %s %dx%d to %s %dx%d",
                            first.camera, recording.start.isoformat(), first.codec, first.width, first.height,
                            recording.codec, recording.width, recording.height)
                break
            origin_s = (recording.start - footage_start).total_seconds()
            try:
                source = av.open(str(index.file(recording)))
            except (av.error.FFmpegError, OSError) as error:
                log.warning("%s: segment %s is unreadable (%s); the footage has a gap there", first.camera,
                            recording.path, error)
                progress(done, len(recordings))
                continue
            with source:
                stream = source.streams.video[0]
                if out_stream is None:
                    out_stream = output.add_stream_from_template(stream)
                    if recording.codec == "hevc":
                        out_stream.codec_tag = "hvc1"
                started = recording is not first
                resync = False
                fallback_s = float(1 / stream.average_rate) if stream.average_rate else 0.1
                with contextlib.suppress(av.error.FFmpegError):  # a damaged tail ends this segment early
                    for packet in source.demux(stream):
                        if packet.dts is None:
                            continue
                        pts_s = float((packet.pts if packet.pts is not None else packet.dts) * stream.time_base)
                        dts_s = float(packet.dts * stream.time_base)
                        if not started:
                            if not (packet.is_keyframe and pts_s >= skip_s - 1e-6):
                                continue
                            started = True
                        if recording.start + timedelta(seconds=dts_s) >= end:
                            break
                        duration_s = float(packet.duration * stream.time_base) if packet.duration else fallback_s
                        dts = round((origin_s + dts_s) / _TIME_BASE)
                        if dts <= last_dts or (resync and not packet.is_keyframe):
                            # Overlapping segments: what a frame dropped here refers to cannot be shown either.
                            resync = True
                            continue
                        resync = False
                        packet.dts, packet.pts = dts, max(dts, round((origin_s + pts_s) / _TIME_BASE))
                        packet.duration = round(duration_s / _TIME_BASE)
                        packet.time_base, packet.stream = _TIME_BASE, out_stream
                        output.mux(packet)
                        last_dts = dts
                        footage_end = max(footage_end, recording.start + timedelta(seconds=pts_s + duration_s))
            used += 1
            progress(done, len(recordings))
    except BaseException:
        with contextlib.suppress(av.error.FFmpegError):
            output.close()
        raise
    if last_dts < 0:
        with contextlib.suppress(av.error.FFmpegError):
            output.close()
        raise NoFootage(f"{first.camera}: no readable video between {footage_start.isoformat()} and {end.isoformat()}")
    output.close()
    return footage_end, used
