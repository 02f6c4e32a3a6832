"""One batcher serves several cameras: real batches, results routed back to the right camera."""

from __future__ import annotations

import subprocess
import threading
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from detector import Batcher, CameraTrackers, TrackerSettings
from streamer import CameraReader, CameraState, Frame, HealthMonitor, LatestFrameBoard, ReaderSettings

pytestmark = pytest.mark.slow

_SHIFT = "crop=672:576:96:0,pad=768:576:0:0"
VARIANTS = {"plain": "null", "mirror": "hflip", "shifted": _SHIFT, "mirror-shifted": f"hflip,{_SHIFT}"}
FRAMES_PER_CLIP = 45


@pytest.fixture(scope="module")
def variant_clips(sample_video: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four short clips of the sample scene, mirrored or shifted so their detections differ."""
    folder = tmp_path_factory.mktemp("clips")
    clips = {}
    for name, video_filter in VARIANTS.items():
        clips[name] = folder / f"{name}.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(sample_video), "-vf", video_filter, "-frames:v", str(FRAMES_PER_CLIP),
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clips[name])],
            check=True, timeout=60,
        )
    return clips


def test_four_cameras_share_batches_and_get_their_own_detections(variant_clips, small_detector) -> None:
    health = HealthMonitor()
    board = LatestFrameBoard(on_drop=health.frame_dropped)
    received: dict[str, list[tuple[Frame, sv.Detections]]] = defaultdict(list)
    lock = threading.Lock()

    trackers = CameraTrackers(TrackerSettings(), {name: 10.0 for name in variant_clips})

    def sink(frame: Frame, detections: sv.Detections) -> None:
        with lock:
            received[frame.camera].append((frame, trackers.update(frame.camera, detections, timestamp=frame.pts)))

    readers = [
        CameraReader(name, ReaderSettings(url=str(path), detect_fps=10, realtime=False), board, health)
        for name, path in variant_clips.items()
    ]
    batcher = Batcher(board, small_detector, sink, health, max_batch=16, max_wait_s=0.05)
    batcher.start()
    for reader in readers:
        reader.start()
    for name in variant_clips:
        health.wait_until(name, lambda h: h.state is CameraState.ENDED, timeout_s=240)
    board.close()
    batcher.join(timeout=60)

    assert {name: len(items) for name, items in received.items()} == {name: FRAMES_PER_CLIP for name in VARIANTS}
    assert batcher.stats.mean_batch > 2, f"mean batch {batcher.stats.mean_batch:.2f}: cameras were not batched"
    assert sum(h.dropped for h in health.snapshot().values()) == 0, "files read at detector speed drop nothing"

    for name, items in received.items():
        assert all(frame.camera == name for frame, _ in items)
        assert [frame.index for frame, _ in items] == list(range(FRAMES_PER_CLIP))
        confirmed = np.concatenate([d.tracker_id[d.tracker_id >= 0] for _, d in items])
        assert confirmed.size and confirmed.min() == 0, f"{name}: ids start at 0, so each camera has its own tracker"

    for name, items in received.items():
        for frame, detections in items[::15]:
            [alone] = small_detector.detect([frame.image])
            assert abs(len(alone) - len(detections)) <= 1, "tracking may drop an unmatched low-score box"
            if len(alone) and len(detections):
                nearest = np.abs(detections.xyxy[:, None, :] - alone.xyxy[None, :, :]).max(axis=2).min(axis=1)
                assert np.median(nearest) < 4, f"{name} frame {frame.index}: detections belong to another frame"


def test_a_shared_detector_merges_concurrent_requests_and_answers_each_caller_with_its_own(sample_video,
                                                                                          small_detector) -> None:
    """A cluster's detector replica: three camera workers' batches, one inference call, each caller its own."""
    from detector.request_batching import DetectorClosed, RequestBatcher

    capture = cv2.VideoCapture(str(sample_video))
    pictures = [capture.read()[1] for _ in range(6)]
    capture.release()
    requests = [[pictures[0], np.ascontiguousarray(pictures[1][:, ::-1])], [pictures[2]], pictures[3:6]]
    batcher = RequestBatcher(small_detector, max_batch=8, max_wait_s=0.05)
    answers: dict[int, list[sv.Detections]] = {}
    callers = [threading.Thread(target=lambda i=i: answers.update({i: batcher.detect(requests[i])}))
               for i in range(len(requests))]
    for caller in callers:
        caller.start()
    while batcher.backlog < 6:  # all three wait before the batcher runs: they must share its first batch
        threading.Event().wait(0.01)
    batcher.start()
    for caller in callers:
        caller.join(timeout=60)
    assert (batcher.stats.batches, batcher.stats.frames) == (1, 6), "three requests, one inference call"
    for i, images in enumerate(requests):
        alone = small_detector.detect(images)
        assert [len(d) for d in answers[i]] == [len(d) for d in alone]
        for mine, expected in zip(answers[i], alone, strict=True):
            assert np.allclose(mine.xyxy, expected.xyxy, atol=1.0), f"caller {i} got another caller's boxes"
    batcher.close()
    batcher.join(timeout=10)
    with pytest.raises(DetectorClosed):
        batcher.detect([pictures[0]])


def test_a_request_the_shared_detector_does_not_serve_in_time_is_withdrawn(small_detector) -> None:
    from detector.request_batching import RequestBatcher

    batcher = RequestBatcher(small_detector)  # not started: nothing is served
    with pytest.raises(TimeoutError, match="no inference within 0.05 s"):
        batcher.detect([np.zeros((64, 64, 3), np.uint8)], timeout_s=0.05)
    assert batcher.backlog == 0, "a caller that gave up leaves nothing to infer"
