"""A camera's recorder thread: the main stream's packets copied into MP4 segments, with no decode."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.error

from streamer.backoff import ReconnectPolicy
from streamer.redaction import redact_url
from streamer.segments import (
    COPYABLE_CODECS, PART_SUFFIX, SALVAGE_SUFFIX, RecordedSegment, SegmentWriter, salvage_part, segment_path,
)
from streamer.source import StreamError, is_network_url, open_input
from streamer.stream_clock import StreamClock

log = logging.getLogger(__name__)

_MAX_AHEAD_S = 2.0
_MAX_BEHIND_S = 10.0
"""A live stream whose timestamps run this far ahead of (behind) the wall clock is re-anchored to it."""
_MAX_JUMP_S = 10.0
"""A timestamp jump this far forward is a discontinuity: the segment ends and a new one starts …"""
_MAX_BACK_S = 0.5
"""… and so is one this far back (B-frames step back a few frames, never this far)."""
_SALVAGED_DAYS = 2
"""Days of a camera's folders searched at start for `.part` files a crash left."""


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    """How one camera is recorded; see `record` in the config."""

    url: str
    root: Path
    """Segments go to `root/CAMERA/YYYY-MM-DD/HH/MMSS.mmm.mp4` (UTC)."""
    segment_s: float = 10.0
    loop: bool = False
    """Files only: start again at the end (the recording goes on without a gap)."""
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    reconnect: ReconnectPolicy = ReconnectPolicy()


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """A snapshot of one recorder, safe to hand to other threads."""

    camera: str
    recording: bool
    """A segment is open and growing."""
    segments: int
    """Segments finished since start."""
    bytes: int
    reencoding: bool
    """The camera's codec cannot go into a browser-playable MP4 as it is, so it is re-encoded (costs CPU)."""
    last_error: str | None
    last_segment_end: datetime | None


@dataclass(slots=True)
class _Anchor:
    """Ties a session's timestamps to the recording's clock: `pts_s` plays at `wall`, `stream_s` into the file."""

    pts_s: float
    wall: datetime
    stream_s: float = 0.0

    def wall_at(self, pts_s: float) -> datetime:
        return self.wall + timedelta(seconds=pts_s - self.pts_s)

    def stream_at(self, pts_s: float) -> float:
        return self.stream_s + pts_s - self.pts_s


class CameraRecorder(threading.Thread):
    """Records one camera until stopped; each finished segment goes to `on_segment` (which must not block).

    A segment starts on a keyframe once the previous one has lasted `segment_s`. A network camera that fails,
    stalls (no data for `read_timeout_s`) or ends reconnects with backoff: the open segment is closed where its
    data stopped, so the index shows a gap, never a broken file. Segments are fragmented MP4: a crash loses only
    the fragment being written, and the next start salvages the rest of the `.part` file.

    A network camera's segments are timed by the wall clock. A file has no clock of its own: the recorder keeps
    behind its reader (`file_clock`) and times the file by the reader's stream time, which goes on across loops
    without a gap. Stopped, it still records up to where the reader got.

    Example:
        >>> recorder = CameraRecorder("lobby", RecorderSettings("rtsp://cam/main", Path("data/recordings")),
        ...                           on_segment=print)  # doctest: +SKIP
        >>> recorder.start(); ...; recorder.stop(); recorder.join()  # doctest: +SKIP
    """

    def __init__(self, camera: str, settings: RecorderSettings, on_segment: Callable[[RecordedSegment], None], *,
                 file_clock: StreamClock | None = None) -> None:
        super().__init__(name=f"recorder-{camera}", daemon=True)
        self.camera = camera
        self.settings = settings
        self._on_segment = on_segment
        self._network = is_network_url(settings.url)
        if not self._network and file_clock is None:
            raise ValueError(f"camera {camera}: recording a file needs its reader's file_clock")
        self._file_clock = file_clock
        self._next_stream_s = 0.0
        self._stop_requested = threading.Event()
        self._backoff = settings.reconnect.backoff()
        self._writer: SegmentWriter | None = None
        self._last_end: datetime | None = None
        self._segments = self._bytes = 0
        self._reencoding = False
        self._last_error: str | None = None
        self._salvaged = False

    def stop(self) -> None:
        self._stop_requested.set()

    def status(self) -> RecorderStatus:
        return RecorderStatus(self.camera, self._writer is not None, self._segments, self._bytes, self._reencoding,
                              self._last_error, self._last_end)

    def run(self) -> None:
        if not self._salvaged:
            self.salvage()
        while True:
            try:
                self._record_until_stopped()
                break
            except Exception as error:  # a recorder must never die: it says why and starts again
                log.exception("camera %s: recorder crashed", self.camera)
                self._last_error = f"internal error: {error}"
                self._finish_segment()
                self._wait_before_reconnect(self._last_error)
                if self._stop_requested.is_set():
                    break
        self._finish_segment()

    def salvage(self) -> datetime | None:
        """Finish the segments a crash left half-written (before `start`, or first thing in the thread); returns
        where the last of them ends."""
        self._salvaged = True
        days = sorted((self.settings.root / self.camera).glob("????-??-??"))[-_SALVAGED_DAYS:]
        left = sorted(p for day in days for suffix in (PART_SUFFIX, SALVAGE_SUFFIX) for p in day.glob(f"*/*{suffix}"))
        for part in left:
            try:
                segment = salvage_part(self.camera, part)
            except Exception:
                log.exception("camera %s: salvaging %s failed", self.camera, part)
                continue
            if segment is not None:
                log.info("camera %s: salvaged %.1f s of recording left by an earlier run in %s", self.camera,
                         segment.duration_s, segment.path)
                self._publish(segment)
        return self._last_end

    def _record_until_stopped(self) -> None:
        while not self._stop_requested.is_set():
            try:
                self._record_one_session()
            except StreamError as error:
                self._finish_segment()
                self._last_error = str(error)
                if not self._network:
                    log.error("camera %s: recording stopped: %s", self.camera, error)
                    return
                self._wait_before_reconnect(str(error))
                continue
            self._finish_segment()
            if self._stop_requested.is_set() or (self._file_clock is not None and self._file_clock.closed):
                return
            if self._network:
                self._wait_before_reconnect(f"{redact_url(self.settings.url)}: stream ended")
            elif not self.settings.loop:
                return

    def _wait_before_reconnect(self, error: str) -> None:
        delay = self._backoff.next_delay()
        log.warning("camera %s: recording paused: %s; reconnecting in %.1f s", self.camera, error, delay)
        self._stop_requested.wait(delay)

    def _record_one_session(self) -> None:
        with open_input(self.settings.url, self.settings.open_timeout_s, self.settings.read_timeout_s) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            reencoding = codec not in COPYABLE_CODECS
            if reencoding and not self._reencoding:
                log.warning("camera %s sends %s, which browsers cannot play: recording re-encodes it to H.264, "
                            "which costs CPU; set the camera to H.264 to record by stream copy", self.camera, codec)
            self._reencoding = reencoding
            frame_s = float(1 / stream.average_rate) if stream.average_rate else 0.1
            anchor: _Anchor | None = None
            last_pts_s = 0.0
            for pts_s, duration_s, keyframe, item in self._timed(container, stream):
                if self._stop_requested.is_set() and self._network:
                    return  # a file goes on to where its reader got, below
                if anchor is not None and not -_MAX_BACK_S < pts_s - last_pts_s < _MAX_JUMP_S:
                    log.warning("camera %s: timestamps jumped %+.1f s; starting a new segment", self.camera,
                                pts_s - last_pts_s)
                    self._finish_segment()
                    anchor = None
                if anchor is None:
                    if not keyframe and not self._reencoding:
                        continue
                    anchor = self._anchor(pts_s)
                    if anchor is None:
                        return
                    self._backoff.reset()
                    self._last_error = None
                last_pts_s = pts_s
                if not self._network:
                    if not self._follow_reader(anchor.stream_at(pts_s)):
                        return
                    self._next_stream_s = max(self._next_stream_s, anchor.stream_at(pts_s) + (duration_s or frame_s))
                if self._network and self._reencoding:
                    # What needs re-encoding (MJPEG over HTTP, …) seldom carries real timestamps: arrival times it.
                    wall = max(datetime.now(UTC), self._last_end or anchor.wall)
                else:
                    wall = anchor.wall_at(pts_s)
                starts_segment = keyframe or self._reencoding
                if starts_segment and (self._writer is None
                                       or (wall - self._writer.start).total_seconds() >= self.settings.segment_s):
                    if self._network and self._writer is not None and not self._reencoding:
                        wall = self._checked_against_clock(anchor, pts_s, wall)
                    self._start_segment(wall, None if self._reencoding else stream, frame_s)
                if self._writer is None:
                    continue
                offset_s = (wall - self._writer.start).total_seconds()
                try:
                    if isinstance(item, av.Packet):
                        self._writer.add_packet(item, offset_s, duration_s or frame_s)
                    else:
                        self._writer.add_frame(item, offset_s, duration_s or frame_s)
                except (av.error.FFmpegError, OSError) as error:
                    self._fail_segment(error)

    def _timed(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
               ) -> Iterator[tuple[float, float, bool, av.Packet | av.VideoFrame]]:
        """(stream time, duration, keyframe, packet or decoded frame), until the stream ends or fails."""
        index = 0
        try:
            if not self._reencoding:
                for packet in container.demux(stream):
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream flush packet
                    pts = packet.pts if packet.pts is not None else packet.dts
                    index += 1
                    duration = float(packet.duration * stream.time_base) if packet.duration else 0.0
                    yield float(pts * stream.time_base), duration, packet.is_keyframe, packet
            else:
                stream.thread_count = 1
                for frame in container.decode(stream):
                    index += 1
                    yield (frame.time if frame.time is not None else index * 0.1), 0.0, frame.key_frame, frame
        except av.error.ExitError:
            raise StreamError(f"{redact_url(self.settings.url)}: stalled: no data for "
                              f"{self.settings.read_timeout_s:g} s after {index} packets") from None
        except (av.error.FFmpegError, OSError) as error:
            raise StreamError(f"{redact_url(self.settings.url)}: read failed after {index} packets: "
                              f"{getattr(error, 'strerror', None) or error}") from None

    def _follow_reader(self, stream_s: float) -> bool:
        """Wait until the file's reader has read up to `stream_s`; False once it will read no further."""
        assert self._file_clock is not None
        return self._file_clock.wait_for(stream_s, timeout_s=None)

    def _anchor(self, pts_s: float) -> _Anchor | None:
        """Where a new run of timestamps sits: now for a camera; for a file, where its stream time has got to
        (None: the reader will read no further)."""
        if not self._network:
            if not self._follow_reader(self._next_stream_s):
                return None
            assert self._file_clock is not None
            return _Anchor(pts_s, self._file_clock.wall_at(self._next_stream_s), self._next_stream_s)
        now = datetime.now(UTC)
        return _Anchor(pts_s, max(now, self._last_end or now))

    def _checked_against_clock(self, anchor: _Anchor, pts_s: float, wall: datetime) -> datetime:
        """`wall`, or, when the camera's clock has drifted too far from ours, the re-anchored time (never earlier)."""
        drift = (wall - datetime.now(UTC)).total_seconds()
        if -_MAX_BEHIND_S < drift < _MAX_AHEAD_S:
            return wall
        log.info("camera %s: stream time is %+.1f s off the wall clock; re-anchored", self.camera, drift)
        now = datetime.now(UTC)
        open_end = self._writer.start + timedelta(seconds=self._writer.elapsed_s) if self._writer else None
        anchor.pts_s, anchor.wall = pts_s, max(now, open_end or now, self._last_end or now)
        return anchor.wall

    def _start_segment(self, start: datetime, template: av.video.stream.VideoStream | None, frame_s: float) -> None:
        self._finish_segment()
        if self._network and self._last_end is not None:
            start = max(start, self._last_end)  # a reconnect never overlaps the segment before (a file's clock rules)
        path = segment_path(self.settings.root, self.camera, start)
        try:
            self._writer = SegmentWriter(self.camera, path, start, template,
                                         encode_rate=Fraction(1 / frame_s).limit_denominator(1001))
        except (av.error.FFmpegError, OSError) as error:
            self._fail_segment(error)

    def _finish_segment(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            segment = writer.close()
        except (av.error.FFmpegError, OSError) as error:
            self._note_error(f"closing segment {writer.path} failed: {error}; keeping its fragments")
            segment = salvage_part(self.camera, writer.part)
        if segment is not None:
            self._publish(segment)

    def _publish(self, segment: RecordedSegment) -> None:
        self._segments += 1
        self._bytes += segment.bytes
        self._last_end = max(segment.end, self._last_end or segment.end)
        try:
            self._on_segment(segment)
        except Exception:
            log.exception("camera %s: on_segment failed for %s", self.camera, segment.path)

    def _fail_segment(self, error: Exception) -> None:
        """Keep what the failed segment has on disk (its fragments are whole); the next keyframe starts another."""
        self._note_error(f"writing a segment failed: {error}")
        self._finish_segment()

    def _note_error(self, message: str) -> None:
        if message != self._last_error:
            log.error("camera %s: %s", self.camera, message)
        self._last_error = message
