"""The live hub: frames drawn once however many watch, viewers freed when they leave."""

from __future__ import annotations

import threading

import numpy as np
import supervision as sv

from dashboard.live import BOUNDARY, LiveHub
from dashboard.live_views import LiveSettings, register_live
from dashboard.stream_slots import StreamSlots


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


def with_live(site, hub: LiveHub | None, slots: StreamSlots | None = None):
    register_live(site.app, LiveSettings(["lobby", "gate"], hub, 1000, slots or StreamSlots(8, 4)))
    return site


def test_a_viewer_of_a_silent_camera_ends_once_it_is_gone() -> None:
    hub, _ = counting_hub()
    gone = threading.Event()
    stream = hub.mjpeg("gate", max_fps=1000, gone=gone.is_set, check_s=0.01)
    ended = threading.Event()

    def watch() -> None:
        [waiting] = list(stream)
        assert waiting.startswith(f"--{BOUNDARY}\r\n".encode()) and b"\xff\xd8" in waiting, "a waiting picture"
        ended.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    gone.set()
    watcher.join(timeout=5)
    assert ended.is_set(), "the stream returned although the camera never sent a frame"


def test_a_silent_camera_frame_is_sent_again_as_keepalive() -> None:
    hub, drawn = counting_hub()
    hub.publish("gate", frame(5), sv.Detections.empty())
    stream = hub.mjpeg("gate", max_fps=1000, check_s=0.01, keepalive_s=0.0)
    assert next(stream) == next(stream) and drawn == ["gate"], "the same part again, drawn once"
    stream.close()


def test_streams_past_the_caps_get_a_clear_503_and_closing_frees_the_slot(site) -> None:
    hub, _ = counting_hub()
    hub.publish("lobby", frame(1), sv.Detections.empty())
    slots = StreamSlots(total=3, per_user=2)
    site = with_live(site, hub, slots)
    viewer, operator = site.client("viewer"), site.client("operator")
    streams = [viewer.get("/video/lobby.mjpg", buffered=False) for _ in range(2)]
    assert [s.status_code for s in streams] == [200, 200] and slots.open == 2
    refused = viewer.get("/video/lobby.mjpg")
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert b"already has 2 live streams open" in refused.data
    streams.append(operator.get("/video/lobby.mjpg", buffered=False))
    full = operator.get("/video/lobby.mjpg")
    assert full.status_code == 503 and b"all 3 live streams are in use" in full.data
    for stream in streams:
        stream.close()
    assert slots.open == 0, "a closed stream frees its slot, started or not"
    again = viewer.get("/video/lobby.mjpg", buffered=False)
    assert again.status_code == 200
    again.close()


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


def test_without_a_pipeline_the_live_page_says_so(site) -> None:
    site = with_live(site, None)
    viewer = site.client("viewer")
    assert b"pipeline is not running" in viewer.get("/live").data
    assert viewer.get("/video/lobby.mjpg").status_code == 404


def test_a_stream_ends_when_its_session_is_revoked(site, monkeypatch) -> None:
    from dashboard import auth

    monkeypatch.setattr(auth, "SESSION_RECHECK_S", 0.0)
    hub, _ = counting_hub()
    site = with_live(site, hub)
    stream = site.client("viewer").get("/video/gate.mjpg", buffered=False)
    parts = iter(stream.response)
    assert next(parts).startswith(f"--{BOUNDARY}".encode()), "the waiting picture"
    site.users.end_sessions("viewer")  # a logout elsewhere
    assert list(parts) == [hub.notice_part("signed out: log in again to watch")], "it ends on a picture saying so"
    stream.close()
