"""Camera input: read files and network streams into sampled, timestamped frames."""

from streamer.board import LatestFrameBoard
from streamer.frame import Frame
from streamer.health import CameraHealth, CameraState, HealthMonitor
from streamer.motion import MotionSettings
from streamer.reader import CameraReader, ReaderSettings

__all__ = [
    "CameraHealth",
    "CameraReader",
    "CameraState",
    "Frame",
    "HealthMonitor",
    "LatestFrameBoard",
    "MotionSettings",
    "ReaderSettings",
]
