"""A minute of a real RTSP camera recorded, its server killed mid-segment and restarted: run as its own process
while the other tests run (`python -m tests.background_recording VIDEO FOLDER`), for tests/test_recording.py.

The GStreamer server sends an H.264 copy of the video as it is (no encode, almost no CPU) and the recorder only
remuxes, so the minute costs the tests around it almost nothing. It writes FOLDER/vigil.db, the segments under
FOLDER/recordings, and FOLDER/session.json: which segments came before the kill, the killed one, and after.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.recording_keeper import RecordingKeeper
from alerts.recording_retention import CameraRetention, Retention, RetentionPolicy
from alerts.recordings import Recording, RecordingIndex
from alerts.store import AlertStore
from streamer.backoff import ReconnectPolicy
from streamer.recorder import CameraRecorder, RecorderSettings
from tests.camera_files import camera_like
from tests.rtsp import RtspServer

CAMERA = "door"
SEGMENT_S = 5.0
RECORDED_S = 60.0


class _Indexed:
    def __init__(self) -> None:
        self.changed = threading.Condition()

    def reached(self, camera: str, end: datetime) -> None:
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, condition, what: str, timeout_s: float) -> None:
        with self.changed:
            if not self.changed.wait_for(condition, timeout_s):
                raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")


def record(video: Path, folder: Path) -> dict:
    camera_video = folder / "door.mp4"
    camera_like(video, camera_video)
    store = AlertStore(folder / "vigil.db")
    index = RecordingIndex(store.engine, folder / "recordings")
    indexed = _Indexed()
    keeper = RecordingKeeper(index, Retention(index, RetentionPolicy({CAMERA: CameraRetention(days=None)})),
                             [CAMERA], on_indexed=indexed.reached)
    server = RtspServer(camera_video, passthrough=True)
    server.start()
    recorder = CameraRecorder(CAMERA, RecorderSettings(
        server.url, index.root, segment_s=SEGMENT_S, open_timeout_s=6, read_timeout_s=3,
        reconnect=ReconnectPolicy(initial_s=0.2, max_s=1)), keeper.submit)
    keeper.start()
    started = datetime.now(UTC)
    recorder.start()

    def recorded() -> list[Recording]:
        return index.between(CAMERA, started - timedelta(hours=1), started + timedelta(hours=1))

    try:
        indexed.wait_for(lambda: recorded() and (recorded()[-1].end - recorded()[0].start).total_seconds()
                         >= RECORDED_S, "a minute of recording", RECORDED_S + 30)
        deadline = time.monotonic() + 10  # the next segment opens as the last one is handed over
        while not recorder.status().recording:
            if time.monotonic() > deadline:
                raise TimeoutError("the next segment did not open")
            time.sleep(0.005)
        before_kill = recorded()
        server.kill()  # mid-segment
        indexed.wait_for(lambda: len(recorded()) > len(before_kill), "the killed segment to be indexed", 20)
        server.start()
        indexed.wait_for(lambda: len(recorded()) >= len(before_kill) + 3, "two segments after the restart", 60)
        segments = recorded()
    finally:
        recorder.stop()
        recorder.join(timeout=15)
        server.kill()
        keeper.stop()
        store.close()
    ids = [s.id for s in segments]
    return {"recording_started": started.isoformat(), "before_kill": ids[:len(before_kill)],
            "killed": ids[len(before_kill)], "after_restart": ids[len(before_kill) + 1:]}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    video, folder = Path(sys.argv[1]), Path(sys.argv[2])
    session = record(video, folder)
    (folder / "session.json").write_text(json.dumps(session))
