"""Alert clips: short H.264 MP4s cut from a per-camera ring of recent frames, encoded off the detection thread."""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import supervision as sv

log = logging.getLogger(__name__)

_STOP = object()
_TIME_BASE = Fraction(1, 1000)
"""Milliseconds: frames keep their real stream-time spacing, however irregular."""
_X264_OPTIONS = {"preset": "veryfast", "crf": "28", "tune": "zerolatency"}
"""zerolatency: no lookahead or frame threads, so an open clip holds no backlog of full frames in the encoder."""


@dataclass(slots=True)
class _FrameAdded:
    camera: str
    pts: float
    wall_time: float
    image: np.ndarray
    detections: sv.Detections | None = None
    """Drawn onto `image` the first time the frame goes into a clip, then dropped."""


@dataclass(frozen=True, slots=True)
class _ClipStarted:
    key: str
    camera: str
    pts: float
    started_at: datetime


@dataclass(frozen=True, slots=True)
class _ClipEnded:
    key: str
    pts: float


class _Clip:
    """One alert's MP4, encoded frame by frame into a temp file that takes its final name when closed."""

    def __init__(self, key: str, camera: str, path: Path, from_pts: float, fps: float) -> None:
        self.key = key
        self.camera = camera
        self.path = path
        self.from_pts = from_pts
        self.end_pts: float | None = None
        self.first_pts: float | None = None
        self._rate = Fraction(fps).limit_denominator(1001)
        self._part = path.with_name(path.name + ".part")
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._last_ms = -1

    def add(self, frame: _FrameAdded) -> None:
        if frame.pts < self.from_pts:
            return
        if self._container is None:
            self._open(frame)
        assert self._container is not None and self._stream is not None and self.first_pts is not None
        ms = round((frame.pts - self.first_pts) * 1000)
        if ms <= self._last_ms:  # a container needs strictly increasing times
            return
        self._last_ms = ms
        # Cropping odd sides is a view, not a copy; the encoder converts BGR to yuv420p.
        picture = av.VideoFrame.from_ndarray(frame.image[: self._stream.height, : self._stream.width], format="bgr24")
        picture.pts = ms
        self._container.mux(self._stream.encode(picture))

    def close(self) -> Path | None:
        """Flush the encoder and give the file its final name; None when the clip got no frame."""
        if self._container is None or self._stream is None:
            return None
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._part.replace(self.path)
        return self.path

    def discard(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # the container may be what failed
                self._container.close()
        self._part.unlink(missing_ok=True)

    def _open(self, frame: _FrameAdded) -> None:
        height, width = (side - side % 2 for side in frame.image.shape[:2])  # yuv420p needs even sides
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(self._part), "w", format="mp4", options={"movflags": "+faststart"})
        container.metadata["creation_time"] = datetime.fromtimestamp(frame.wall_time, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        stream = container.add_stream("libx264", rate=self._rate, options=_X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = _TIME_BASE
        self._container, self._stream, self.first_pts = container, stream, frame.pts


class ClipRecorder(threading.Thread):
    """Keeps the last `pre_s` seconds of each camera's detected frames and writes alert clips as H.264 MP4.

    The public methods only enqueue commands, in order, on one bounded queue;
    the recorder thread keeps the rings and encodes. A clip runs from `pre_s`
    before its start to `post_s` after its end, in stream time, cut at
    `max_clip_s`; `on_clip(key, path)` is called once its file is complete.

    Example:
        >>> import tempfile
        >>> media = tempfile.TemporaryDirectory()
        >>> recorder = ClipRecorder(media.name, pre_s=1, post_s=1, min_free_mb=0, on_clip=lambda k, p: print(p.name))
        >>> recorder.start()
        >>> black = np.zeros((120, 160, 3), np.uint8)
        >>> for i in range(20):
        ...     recorder.add_frame("lobby", i / 5, 1.7e9 + i / 5, black)
        ...     if i == 5:
        ...         recorder.start_clip("3f2a9c1e0b", "lobby", 1.0, datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
        ...         recorder.end_clip("3f2a9c1e0b", 1.0)
        >>> recorder.stop()
        093000-3f2a9c1e.mp4
        >>> media.cleanup()
    """

    def __init__(
        self,
        media_dir: str | Path,
        *,
        pre_s: float = 3.0,
        post_s: float = 3.0,
        max_clip_s: float = 120.0,
        fps: float = 5.0,
        min_free_mb: float = 500.0,
        max_pending: int = 256,
        on_clip: Callable[[str, Path], None] = lambda key, path: None,
        render: Callable[[str, np.ndarray, sv.Detections], np.ndarray] | None = None,
    ) -> None:
        super().__init__(name="clip-recorder", daemon=True)
        self._media_dir = Path(media_dir)
        self._pre_s = pre_s
        self._post_s = post_s
        self._max_clip_s = max_clip_s
        self._fps = fps
        self._min_free_bytes = min_free_mb * 1e6
        self._on_clip = on_clip
        self._render = render
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._rings: dict[str, deque[_FrameAdded]] = {}
        self._clips: dict[str, _Clip] = {}
        self._short_of_space: set[str] = set()
        self.dropped_frames = 0
        """Frames not recorded because the queue was full."""
        self.skipped_clips = 0
        """Clips not written because free disk space under media_dir was below min_free_mb."""

    def add_frame(
        self, camera: str, pts: float, wall_time: float, image: np.ndarray, detections: sv.Detections | None = None
    ) -> None:
        """Offer a detected frame; never blocks: a full queue drops it and counts it in `dropped_frames`.

        With `detections` and a `render` function, the frame is drawn in the
        recorder's thread, and only if it ends up in a clip.
        """
        try:
            self._queue.put_nowait(_FrameAdded(camera, pts, wall_time, image, detections))
        except queue.Full:
            self.dropped_frames += 1

    def start_clip(self, key: str, camera: str, pts: float, started_at: datetime) -> None:
        """An alert started at stream time `pts`; waits for room on the queue rather than lose it."""
        self._queue.put(_ClipStarted(key, camera, pts, started_at))

    def end_clip(self, key: str, pts: float) -> None:
        """The alert ended at stream time `pts`; its clip closes `post_s` later."""
        self._queue.put(_ClipEnded(key, pts))

    def stop(self) -> None:
        """Write everything queued so far, close open clips with what they have, then end the thread."""
        self._queue.put(_STOP)
        self.join()

    def run(self) -> None:
        while (command := self._queue.get()) is not _STOP:
            try:
                self._handle(command)
            except Exception:
                log.exception("clip recorder: %s failed", type(command).__name__)
        for clip in list(self._clips.values()):
            self._finish(clip)

    def _handle(self, command: object) -> None:
        if isinstance(command, _FrameAdded):
            self._record(command)
        elif isinstance(command, _ClipStarted):
            self._start(command)
        elif isinstance(command, _ClipEnded) and (clip := self._clips.get(command.key)) is not None:
            clip.end_pts = command.pts

    def _record(self, frame: _FrameAdded) -> None:
        ring = self._rings.setdefault(frame.camera, deque())
        ring.append(frame)
        while ring[0].pts < frame.pts - self._pre_s:
            ring.popleft()
        for clip in [clip for clip in self._clips.values() if clip.camera == frame.camera]:
            if clip.end_pts is not None and frame.pts >= clip.end_pts + self._post_s:
                self._finish(clip)
            elif clip.first_pts is not None and frame.pts - clip.first_pts >= self._max_clip_s:
                log.warning("clip %s on %s cut at max_clip_s=%g s", clip.key, clip.camera, self._max_clip_s)
                self._finish(clip)
            else:
                self._encode(clip, (frame,))

    def _start(self, started: _ClipStarted) -> None:
        if not self._has_space(started.camera):
            self.skipped_clips += 1
            return
        at = started.started_at.astimezone(UTC)
        path = self._media_dir / started.camera / at.strftime("%Y-%m-%d") / f"{at:%H%M%S}-{started.key[:8]}.mp4"
        clip = _Clip(started.key, started.camera, path, started.pts - self._pre_s, self._fps)
        self._clips[clip.key] = clip
        self._encode(clip, self._rings.get(started.camera, ()))

    def _encode(self, clip: _Clip, frames: Iterable[_FrameAdded]) -> None:
        try:
            for frame in frames:
                if frame.detections is not None and self._render is not None:
                    frame.image, frame.detections = self._render(frame.camera, frame.image, frame.detections), None
                clip.add(frame)
        except Exception:
            log.exception("clip %s on %s: encoding failed; clip dropped", clip.key, clip.camera)
            del self._clips[clip.key]
            clip.discard()

    def _finish(self, clip: _Clip) -> None:
        del self._clips[clip.key]
        try:
            path = clip.close()
        except Exception:
            log.exception("clip %s on %s: closing failed; clip dropped", clip.key, clip.camera)
            clip.discard()
            return
        if path is None:
            return
        log.info("clip %s on %s written to %s", clip.key, clip.camera, path)
        try:
            self._on_clip(clip.key, path)
        except Exception:
            log.exception("clip %s: on_clip failed for %s", clip.key, path)

    def _has_space(self, camera: str) -> bool:
        self._media_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self._media_dir).free
        if free >= self._min_free_bytes:
            self._short_of_space.discard(camera)
            return True
        if camera not in self._short_of_space:
            self._short_of_space.add(camera)
            log.warning(
                "%s: %.0f MB free under %s, below min_free_mb=%g; skipping clips until there is space",
                camera, free / 1e6, self._media_dir, self._min_free_bytes / 1e6,
            )
        return False
