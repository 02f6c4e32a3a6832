"""Recording segments on disk: how they are named, written (fragmented MP4 under a `.part` name) and read back."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import av.error

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
SALVAGE_SUFFIX = ".salvage"
"""A `.part` a crash left is moved to this name while its fragments are copied into a finished segment."""
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
"""A fragment per keyframe, written out as soon as it is complete: a crash loses at most the GOP being written."""
COPYABLE_CODECS = frozenset({"h264", "hevc", "av1", "vp9"})
"""Codecs a segment keeps as the camera sent them; any other (MJPEG, MPEG-4 part 2, …) is re-encoded to H.264."""


@dataclass(frozen=True, slots=True)
class RecordedSegment:
    """One finished segment: a file of the camera's own packets, starting on a keyframe."""

    camera: str
    path: Path
    start: datetime
    """UTC wall time of the first frame."""
    end: datetime
    """UTC wall time just after the last frame: the next segment of an unbroken recording starts here."""
    bytes: int
    keyframes: tuple[float, ...]
    """Seconds from `start` of each keyframe; the first is 0."""
    codec: str
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def segment_path(root: Path, camera: str, start: datetime) -> Path:
    """`root/CAMERA/YYYY-MM-DD/HH/MMSS.mmm.mp4`, in UTC: the start time is in the name, to the millisecond."""
    at = start.astimezone(UTC)
    return root / camera / f"{at:%Y-%m-%d}" / f"{at:%H}" / f"{at:%M%S}.{at.microsecond // 1000:03d}.mp4"


def start_from_path(path: Path) -> datetime:
    """The start time `segment_path` put into a segment's name; raises ValueError for any other name."""
    stem = path.name.removesuffix(PART_SUFFIX).removesuffix(SALVAGE_SUFFIX).removesuffix(".mp4")
    return datetime.strptime(f"{path.parent.parent.name} {path.parent.name} {stem}", "%Y-%m-%d %H %M%S.%f").replace(
        tzinfo=UTC
    )


class SegmentWriter:
    """Writes one segment: packets copied from `template` (or encoded to H.264 frames) into a `.part` file.

    `close` gives the file its final name and returns its `RecordedSegment`.
    """

    def __init__(self, camera: str, path: Path, start: datetime, template: av.video.stream.VideoStream | None,
                 encode_rate: Fraction | None = None) -> None:
        self.camera = camera
        self.path = path
        self.start = start
        self.part = path.with_name(path.name + PART_SUFFIX)
        """Where the segment is written until it is closed."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.part), "w", format="mp4", options=FRAGMENTED_MP4)
        self._container.metadata["creation_time"] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if template is not None:
            self._stream = self._container.add_stream_from_template(template)
            if template.codec_context.name == "hevc":
                self._stream.codec_tag = "hvc1"  # what Safari and Edge play
        else:
            assert encode_rate is not None, "an encoding segment needs its frame rate"
            self._stream = self._container.add_stream("libx264", rate=encode_rate, options={
                "preset": "veryfast", "crf": "23", "tune": "zerolatency", "g": str(max(1, round(encode_rate))),
            })
            self._stream.pix_fmt = "yuv420p"
            self._stream.time_base = self._stream.codec_context.time_base = Fraction(1, 1000)
        self._encoding = template is None
        self._codec = "h264" if template is None else template.codec_context.name
        self._origin: int | None = None
        self._last_dts: int | None = None
        self._keyframes: list[float] = []
        self._end_s = 0.0
        self.packets = 0

    def add_packet(self, packet: av.Packet, offset_s: float, duration_s: float) -> None:
        """Mux a demuxed packet that plays `offset_s` after the segment's start; the first must be a keyframe."""
        assert packet.dts is not None and packet.time_base is not None
        if self._origin is None:
            self._origin = packet.dts
        dts = packet.dts - self._origin
        if self._last_dts is not None and dts <= self._last_dts:
            return  # MP4 needs strictly increasing decode times; a camera's repeated timestamp is dropped
        pts = (packet.pts if packet.pts is not None else packet.dts) - self._origin
        packet.dts, packet.pts, packet.stream = dts, max(pts, dts), self._stream
        self._container.mux(packet)
        if packet.is_keyframe:
            self._keyframes.append(round(offset_s, 6))
        self._counted(offset_s, duration_s)
        self._last_dts = dts

    def add_frame(self, frame: av.VideoFrame, offset_s: float, duration_s: float) -> None:
        """Encode a decoded frame that plays `offset_s` after the segment's start."""
        ms = round(offset_s * 1000)
        if self._last_dts is not None and ms <= self._last_dts:
            return
        if self.packets == 0:
            self._stream.width, self._stream.height = frame.width - frame.width % 2, frame.height - frame.height % 2
        picture = frame.reformat(width=self._stream.width, height=self._stream.height, format="yuv420p")
        picture.pts, picture.time_base = ms, Fraction(1, 1000)
        for packet in self._stream.encode(picture):
            self._container.mux(packet)
            if packet.is_keyframe:
                self._keyframes.append(float(packet.pts * packet.time_base))
        self._counted(offset_s, duration_s)
        self._last_dts = ms

    def _counted(self, offset_s: float, duration_s: float) -> None:
        """One more frame in the segment, which now lasts at least to its end."""
        self.packets += 1
        self._end_s = max(self._end_s, offset_s + duration_s)

    @property
    def elapsed_s(self) -> float:
        return self._end_s

    def close(self) -> RecordedSegment | None:
        """Finish the file and rename it; None (and no file) when it got no frame."""
        stream = self._stream
        try:  # on failure the part stays, with its whole fragments, for `salvage_part`
            if self._encoding and self.packets:  # flush the encoder's last frames
                for packet in stream.encode(None):
                    self._container.mux(packet)
        finally:
            self._container.close()
        if self.packets == 0:
            self.part.unlink(missing_ok=True)
            return None
        self.part.replace(self.path)
        return RecordedSegment(
            camera=self.camera, path=self.path, start=self.start, end=self.start + timedelta(seconds=self._end_s),
            bytes=self.path.stat().st_size, keyframes=tuple(self._keyframes) or (0.0,),
            codec=self._codec, width=stream.width, height=stream.height,
        )


def read_segment(camera: str, path: Path) -> RecordedSegment:
    """Read a finished segment's times, keyframes and format back from its file and name (for the index)."""
    start = start_from_path(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyframes, end_s = _packet_times(container, stream)
        if end_s is None:
            raise ValueError(f"{path}: no video packets")
        return RecordedSegment(
            camera=camera, path=path, start=start, end=start + timedelta(seconds=end_s), bytes=path.stat().st_size,
            keyframes=tuple(keyframes), codec=stream.codec_context.name, width=stream.width, height=stream.height,
        )


def _packet_times(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                  ) -> tuple[list[float], float | None]:
    """Keyframe offsets and the end offset (last frame + its duration) of a segment file, in seconds."""
    keyframes: list[float] = []
    end_s: float | None = None
    fallback = float(1 / stream.average_rate) if stream.average_rate else 0.1
    with contextlib.suppress(av.error.FFmpegError):  # a truncated last fragment ends the file early
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            at = float(packet.pts * stream.time_base)
            if packet.is_keyframe:
                keyframes.append(round(at, 6))
            duration = float(packet.duration * stream.time_base) if packet.duration else fallback
            end_s = max(end_s or 0.0, at + duration)
    return keyframes, end_s


def salvage_part(camera: str, left: Path) -> RecordedSegment | None:
    """Turn a `.part` (or `.salvage`) file a crash left into a finished segment with the fragments on disk.

    The file is first moved aside, so that the segment written from it under the final name cannot overwrite
    it; the readable packets are copied into a clean file. None (and the leftover deleted) when nothing is
    readable.
    """
    final = left.with_name(left.name.removesuffix(PART_SUFFIX).removesuffix(SALVAGE_SUFFIX))
    source_path = final.with_name(final.name + SALVAGE_SUFFIX)
    if left != source_path:
        left.replace(source_path)
    start = start_from_path(source_path)
    try:
        with av.open(str(source_path)) as source:
            stream = source.streams.video[0]
            writer = SegmentWriter(camera, final, start, stream)
            with contextlib.suppress(av.error.FFmpegError):
                for packet in source.demux(stream):
                    if packet.dts is None or (writer.packets == 0 and not packet.is_keyframe):
                        continue
                    at = float((packet.pts if packet.pts is not None else packet.dts) * stream.time_base)
                    duration = float(packet.duration * stream.time_base) if packet.duration else 0.1
                    writer.add_packet(packet, at, duration)
            segment = writer.close()
    except OSError as error:  # the disk, not the file: keep it for the next try
        log.warning("%s: could not salvage it now (%s); kept for the next start", left, error)
        return None
    except (av.error.FFmpegError, IndexError) as error:
        log.warning("%s: unreadable recording left behind (%s); deleted", left, error)
        segment = None
    source_path.unlink(missing_ok=True)
    return segment
