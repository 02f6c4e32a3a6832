"""The live hub: frames drawn once however many watch, viewers freed when they leave."""

from __future__ import annotations

import threading

import numpy as np
import supervision as sv

from dashboard.live import BOUNDARY, LiveHub


def frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def counting_hub() -> tuple[LiveHub, list[str]]:
    drawn: list[str] = []

    def render(camera: str, image: np.ndarray, detections: sv.Detections) -> np.ndarray:
        drawn.append(camera)
        return image

    return LiveHub(render), drawn


def test_two_viewers_of_one_camera_do_not_double_the_drawing() -> None:
    hub, drawn = counting_hub()
    first, second = hub.mjpeg("lobby", max_fps=1000), hub.mjpeg("lobby", max_fps=1000)
    for value in (10, 200):
        hub.publish("lobby", frame(value), sv.Detections.empty())
        parts = [next(first), next(second)]
        assert parts[0] == parts[1], "both viewers get the same encoded frame"
        assert parts[0].startswith(f"--{BOUNDARY}\r\nContent-Type: image/jpeg".encode())
    assert drawn == ["lobby", "lobby"] and hub.renders == 2, "one drawing per frame, not per viewer"
    assert hub.viewers == 2
    first.close()
    second.close()
    assert hub.viewers == 0, "a viewer that leaves frees its slot"


def test_frames_nobody_watches_are_never_drawn() -> None:
    hub, drawn = counting_hub()
    for value in range(50):
        hub.publish("gate", frame(value), sv.Detections.empty())
    assert drawn == []
    sequence, jpeg = hub.next_jpeg("gate", after=0, timeout_s=1)
    assert (sequence, drawn) == (50, ["gate"]), "only the newest frame is drawn, on demand"
    assert jpeg[:2] == b"\xff\xd8"


def test_a_viewer_waits_for_a_newer_frame_and_cameras_stay_apart() -> None:
    hub, _ = counting_hub()
    hub.publish("lobby", frame(1), sv.Detections.empty())
    assert hub.next_jpeg("lobby", after=1, timeout_s=0.05) is None, "nothing newer yet"
    assert hub.next_jpeg("yard", after=0, timeout_s=0.05) is None, "another camera's frame is not this one's"
    later = threading.Timer(0.05, lambda: hub.publish("lobby", frame(2), sv.Detections.empty()))
    later.start()
    result = hub.next_jpeg("lobby", after=1, timeout_s=5)
    later.join()
    assert result is not None and result[0] == 2


def with_live(site, hub: LiveHub | None):
    from dashboard.live_views import register_live

    register_live(site.app, ["lobby", "gate"], hub, max_fps=1000)
    return site


def test_live_page_and_stream_need_a_login_and_a_known_camera(site) -> None:
    hub, _ = counting_hub()
    site = with_live(site, hub)
    anonymous = site.app.test_client()
    assert anonymous.get("/live").status_code == 302
    assert anonymous.get("/video/lobby.mjpg").status_code == 302
    viewer = site.client("viewer")
    page = viewer.get("/live")
    assert page.status_code == 200
    assert b'src="/video/lobby.mjpg"' in page.data and b'src="/video/gate.mjpg"' in page.data
    assert viewer.get("/video/garage.mjpg").status_code == 404
    hub.publish("lobby", frame(99), sv.Detections.empty())
    stream = viewer.get("/video/lobby.mjpg", buffered=False)
    assert stream.mimetype == "multipart/x-mixed-replace"
    first_part = next(stream.response)
    assert first_part.startswith(f"--{BOUNDARY}\r\n".encode()) and b"\xff\xd8" in first_part
    stream.close()
    assert hub.viewers == 0, "closing the response frees the viewer"


def test_without_a_pipeline_the_live_page_says_so(site) -> None:
    site = with_live(site, None)
    viewer = site.client("viewer")
    assert b"pipeline is not running" in viewer.get("/live").data
    assert viewer.get("/video/lobby.mjpg").status_code == 404
