"""State read across threads has one owner: the shapes, swapped whole and read when drawn; alerts, frozen in events."""

from __future__ import annotations

import pickle
import threading

import cv2
import numpy as np
import pytest

from alerts import AlertEngine, AlertStore, AlertUpdated, AlertWriter, PresenceRule
from alerts.annotation import OperatorView, annotate
from alerts.site_shapes import CameraShapes, SiteShapes
from dashboard.live import LiveHub
from streamer import Frame
from tests.test_rules import EPOCH, U_ZONE, box_at, objects, settings

RIGHT_HALF = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]


def test_camera_shapes_cannot_be_changed_in_place_and_pickle() -> None:
    shapes = CameraShapes(zones={"u": U_ZONE}, lines={"door": [[0.5, 0.0], [0.5, 1.0]]})
    with pytest.raises(TypeError):
        shapes.zones["u"] = ((0.0, 0.0),)  # type: ignore[index]
    assert pickle.loads(pickle.dumps(shapes)) == shapes


def test_the_live_view_draws_the_shapes_of_when_it_is_watched() -> None:
    site = SiteShapes({"lobby": CameraShapes(zones={"u": U_ZONE})})
    hub = LiveHub(render=OperatorView(site), jpeg_quality=80)
    image, person = np.zeros((100, 100, 3), np.uint8), objects((1, "person", 0.9, box_at(80, 80)))
    hub.publish("lobby", image, person)
    site.replace("lobby", CameraShapes(zones={"walkway": RIGHT_HALF}))
    _, jpeg = hub.next_jpeg("lobby", after=0, timeout_s=1)
    ok, expected = cv2.imencode(".jpg", annotate(image, person, site.of("lobby")), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok and jpeg == expected.tobytes(), "a frame published before the edit, watched after it"


def test_a_writer_held_up_until_the_rule_improved_the_alert_draws_the_start_box_on_the_start_frame(tmp_path) -> None:
    engine = AlertEngine([PresenceRule(settings(score_window=1), min_duration_s=0.0)], SiteShapes())
    drawing_yard, go_on = threading.Event(), threading.Event()
    drawn: list[tuple[np.ndarray, list, list]] = []

    def held_up_by_the_yard(camera: str, image: np.ndarray, detections) -> np.ndarray:
        if camera == "yard":
            drawing_yard.set()
            go_on.wait(timeout=10)
        else:
            drawn.append((image, detections.xyxy.tolist(), detections.confidence.tolist()))
        return image

    store = AlertStore(tmp_path / "vigil.db")
    writer = AlertWriter(store, tmp_path / "media", journal_dir=tmp_path / "journal", render=held_up_by_the_yard)
    writer.start()
    yard_frame = Frame("yard", 0, 0.0, EPOCH, 0.0, np.zeros((100, 100, 3), np.uint8))
    start_frame = Frame("cam", 0, 0.0, EPOCH, 0.0, np.full((100, 100, 3), 40, np.uint8))
    later_frame = Frame("cam", 5, 1.0, EPOCH + 1.0, 1.0, np.full((100, 100, 3), 200, np.uint8))
    try:
        # The writer takes events in order: the camera's start waits behind the yard's snapshot, held up.
        writer.submit(engine.process(yard_frame, objects((9, "person", 0.9, box_at(50, 50)))))
        assert drawing_yard.wait(timeout=10), "the writer is busy with the yard's snapshot"
        writer.submit(engine.process(start_frame, objects((1, "person", 0.6, box_at(20, 50)))))
        improved = engine.process(later_frame, objects((1, "person", 0.9, box_at(70, 60))))
        assert [type(event) for event in improved] == [AlertUpdated], "the rule improved the alert meanwhile"
        writer.submit(improved)
    finally:
        go_on.set()
        writer.stop()
    (start_image, start_boxes, start_scores), (best_image, best_boxes, best_scores) = drawn
    assert start_image is start_frame.image and start_boxes == [[17.0, 40.0, 23.0, 50.0]]
    assert start_scores == [pytest.approx(0.6)], "the start as the rule saw it, not as it is now"
    assert best_image is later_frame.image and best_boxes == [[67.0, 50.0, 73.0, 60.0]]
    assert best_scores == [pytest.approx(0.9)]
    [stored] = [alert for alert in store.list_alerts() if alert.camera == "cam"]
    assert (stored.score, stored.box) == (pytest.approx(0.9), (67.0, 50.0, 73.0, 60.0)), "the best moment is stored"
    store.close()
