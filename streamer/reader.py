"""A camera reader thread: decode, sample, gate on motion, shrink, hand over, reconnect."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from streamer.backoff import ReconnectPolicy
from streamer.board import BoardClosed, LatestFrameBoard
from streamer.frame import Frame, shrink_to_fit
from streamer.health import CameraState, HealthMonitor
from streamer.motion import Box, MotionDetector, MotionGate, MotionSettings, check_phase_s
from streamer.sampling import DetectRateSampler
from streamer.redaction import redact_url
from streamer.source import StreamError, VideoStream, is_network_url
from streamer.stream_clock import StreamClock

log = logging.getLogger(__name__)

_TRUNCATION_TOLERANCE = 0.98


DEFAULT_DETECT_FPS = 5.0
"""Frames per second a camera sends to the detector unless its config says otherwise."""


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """How one camera is read; see the `cameras` section of the config."""

    url: str
    detect_fps: float = DEFAULT_DETECT_FPS
    loop: bool = False
    realtime: bool = True
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    reconnect: ReconnectPolicy = ReconnectPolicy()
    motion: MotionSettings = MotionSettings(enabled=False)
    """Off unless given: a bare reader hands over every sampled frame; the config turns motion on by default."""
    detect_size: int | None = None
    """The detector's input size: frames get a `detect_image` whose longer side is at most this."""


class CameraReader(threading.Thread):
    """Reads one camera into the shared board until stopped.

    Network cameras reconnect with capped exponential backoff after any error
    or end of stream. Files fail at once on an error (retrying cannot mend a
    corrupt file), loop when asked, and otherwise end.

    With motion on, a sampled frame goes to the board only when the motion
    gate lets it through (`has_active_tracks` tells the gate whether the
    camera still tracks something); the others are counted as skipped and
    never converted to BGR.
    """

    def __init__(
        self,
        camera: str,
        settings: ReaderSettings,
        board: LatestFrameBoard,
        health: HealthMonitor,
        *,
        has_active_tracks: Callable[[], bool] = lambda: False,
        clock: StreamClock | None = None,
    ) -> None:
        super().__init__(name=f"reader-{camera}", daemon=True)
        self.camera = camera
        self.settings = settings
        self._board = board
        self._health = health
        self._stop_requested = threading.Event()
        self._network = is_network_url(settings.url)
        self._backoff = settings.reconnect.backoff()
        self._sampler = DetectRateSampler(settings.detect_fps)
        self._has_active_tracks = has_active_tracks
        self._clock = clock
        """Advanced to each decoded frame's stream time (a file camera's recorder follows it); frames are timed
        by it."""
        self._greyscaler = VideoReformatter()
        self._index = 0
        self._next_stream_time = 0.0
        health.register(camera)

    def stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> None:
        try:
            self._read_until_stopped()
        except BoardClosed:
            pass
        except Exception as error:  # a reader must never die silently
            log.exception("camera %s: reader crashed", self.camera)
            self._health.set_state(self.camera, CameraState.FAILED, f"internal error: {error}")
            return
        finally:
            if self._clock is not None:
                self._clock.close()
        if self._health.snapshot()[self.camera].state not in (CameraState.FAILED, CameraState.ENDED):
            self._health.set_state(self.camera, CameraState.STOPPED)

    def _read_until_stopped(self) -> None:
        while not self._stop_requested.is_set():
            try:
                self._read_one_session()
            except StreamError as error:
                if not self._network:
                    log.error("camera %s: %s", self.camera, error)
                    self._health.set_state(self.camera, CameraState.FAILED, str(error))
                    return
                self._wait_before_reconnect(str(error))
                continue
            if self._stop_requested.is_set():
                return
            if self._network:
                self._wait_before_reconnect(f"{redact_url(self.settings.url)}: stream ended")
            elif not self.settings.loop:
                self._health.set_state(self.camera, CameraState.ENDED)
                return

    def _wait_before_reconnect(self, error: str) -> None:
        delay = self._backoff.next_delay()
        log.warning("camera %s: %s; reconnecting in %.1f s", self.camera, error, delay)
        self._health.set_state(self.camera, CameraState.RECONNECTING, error)
        self._stop_requested.wait(delay)

    def _read_one_session(self) -> None:
        """Read from open to end of stream; raises StreamError on failure."""
        settings = self.settings
        paced = settings.realtime and not self._network
        wait_for_free_slot = not settings.realtime and not self._network
        with VideoStream(settings.url, settings.open_timeout_s, settings.read_timeout_s) as stream:
            self._sampler.reset()
            # A new session may bring a new resolution or view: motion starts from a fresh background.
            motion = MotionDetector(settings.motion)
            check_every_s = settings.motion.check_every_s
            gate = MotionGate(check_every_s, check_phase_s(self.camera, check_every_s), settings.motion.tracked_check_s)
            session_start_clock: float | None = None
            first_pts = 0.0
            stream_offset = self._next_stream_time
            decoded = 0
            for pts, av_frame in stream.frames():
                if self._stop_requested.is_set():
                    return
                if session_start_clock is None:
                    session_start_clock, first_pts = time.monotonic(), pts
                    self._backoff.reset()
                elif paced and self._stop_requested.wait(
                    max(0.0, session_start_clock + (pts - first_pts) - time.monotonic())
                ):
                    return
                decoded += 1
                stream_time = stream_offset + pts - first_pts
                # Stream time goes on across loops and reconnects, whatever the source's timestamps do.
                self._next_stream_time = stream_time + stream.frame_duration_s
                wall_time = time.time()
                self._health.frame_in(self.camera, wall_time)
                if self._clock is not None:
                    self._clock.advance(stream_time, wall_time)
                    wall_time = self._clock.wall_at(stream_time).timestamp()
                self._index += 1
                if not self._sampler.take(stream_time):
                    continue
                moved: tuple[Box, ...] = ()
                if settings.motion.enabled:
                    moved = motion.detect(self._grey(av_frame))
                    if not gate.admit(stream_time, moving=bool(moved), tracking=self._has_active_tracks()):
                        self._health.frame_skipped(self.camera)
                        continue
                if wait_for_free_slot:
                    self._board.wait_until_free(self.camera)
                image = av_frame.to_ndarray(format="bgr24")
                frame = Frame(
                    camera=self.camera,
                    index=self._index - 1,
                    pts=stream_time,
                    wall_time=wall_time,
                    read_clock=time.monotonic(),
                    image=image,
                    detect_image=shrink_to_fit(image, settings.detect_size),
                    motion=moved,
                )
                self._board.put(frame)
            if not self._network and stream.expected_frames and decoded < stream.expected_frames * _TRUNCATION_TOLERANCE:
                message = f"{settings.url}: video ended after {decoded} of {stream.expected_frames} frames (truncated file?)"
                log.warning("camera %s: %s", self.camera, message)
                self._health.record_error(self.camera, message)
                if decoded == 0:
                    raise StreamError(f"{settings.url}: no decodable video frames")

    def _grey(self, av_frame: av.VideoFrame) -> np.ndarray:
        """The small grey picture motion is computed on, scaled by swscale straight from the decoded frame."""
        width, height = self.settings.motion.motion_size(av_frame.width, av_frame.height)
        small = self._greyscaler.reformat(
            av_frame, width=width, height=height, format="gray", interpolation=Interpolation.AREA
        )
        return small.to_ndarray()
