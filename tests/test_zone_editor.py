"""The zone editor: validated, comment-keeping writes of the config file, applied live; and its dashboard pages."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import supervision as sv

from alerts import AlertEngine, AlertStarted
from alerts.annotation import OperatorView, annotate
from alerts.site_shapes import CameraShapes
from alerts.snapshots import SnapshotWriter, snapshot_detections
from dashboard.live import LiveHub
from dashboard.zones_views import register_zones
from tests.dashboard_support import csrf
from tests.test_rules import box_at, frame, objects, started
from vigil.config import ConfigError, load_config
from vigil.rule_factory import build_rules, site_shapes
from vigil.zone_editing import ShapeEditor

ORIGINAL = """\
# Two cameras; the yard's password comes from the environment.
cameras:
  lobby:
    url: rtsp://viewer:${CAM_PASSWORD}@10.0.0.5/stream   # never written out substituted
    detect_fps: 5
    zones:                          # fractions of the frame
      walkway: [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
    lines:
      door: [[0.2, 0.1], [0.2, 0.9]]
  yard:
    url: rtsp://10.0.0.6/stream
    zones:
      gate: [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]

rules:
  # Anyone on the walkway, at once.
  - {name: on-walkway, kind: presence, zone: walkway, cameras: [lobby], classes: [person], min_score: 0.3, min_duration_s: 0, inertia_frames: 1}
  - name: through-door
    kind: line_crossing
    line: door
    classes: [person]

storage:
  database: data/vigil.db   # relative to this file
"""
RIGHT_HALF = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
DOOR_MOVED = [[0.8, 0.1], [0.8, 0.9]]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAM_PASSWORD", "s3cret")
    path = tmp_path / "vigil.yaml"
    path.write_text(ORIGINAL)
    return path


def test_save_rewrites_only_the_camera_shapes_and_keeps_a_backup(config_file: Path) -> None:
    editor = ShapeEditor(config_file, pipeline=None)
    assert editor.cameras == ["lobby", "yard"]
    editor.save("lobby", zones={"walkway": RIGHT_HALF, "desk": [[0.1, 0.2], [0.3, 0.2], [0.25, 0.4]]},
                lines={"door": DOOR_MOVED})
    expected = ORIGINAL.replace(
        "      walkway: [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]\n",
        "      walkway: [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]\n"
        "      desk: [[0.1, 0.2], [0.3, 0.2], [0.25, 0.4]]\n",
    ).replace("      door: [[0.2, 0.1], [0.2, 0.9]]\n", "      door: [[0.8, 0.1], [0.8, 0.9]]\n")
    assert config_file.read_text() == expected, "comments, ${ENV} and every other key are kept as written"
    assert config_file.with_name("vigil.yaml.bak").read_text() == ORIGINAL
    config = load_config(config_file)
    assert config.cameras["lobby"].zones["desk"] == [(0.1, 0.2), (0.3, 0.2), (0.25, 0.4)]
    assert editor.shapes("lobby") == {
        "zones": {"walkway": RIGHT_HALF, "desk": [[0.1, 0.2], [0.3, 0.2], [0.25, 0.4]]}, "lines": {"door": DOOR_MOVED}
    }
    editor.save("lobby", zones={"walkway": RIGHT_HALF}, lines={"door": DOOR_MOVED})
    assert config_file.with_name("vigil.yaml.bak").read_text() == expected, "the backup is the previous version"


@pytest.mark.parametrize(
    ("zones", "lines", "problem"),
    [
        ({"walkway": [[0, 0], [1.5, 0], [1, 1]]}, {"door": DOOR_MOVED},
         "cameras.lobby.zones.walkway.1.0: Input should be less than or equal to 1"),
        ({"walkway": [[0, 0], [1, 1]]}, {"door": DOOR_MOVED},
         "cameras.lobby.zones.walkway: List should have at least 3"),
        ({"walkway": RIGHT_HALF}, {"door": [[0, 0], [1, 1], [0, 1]]},
         "cameras.lobby.lines.door: List should have at most 2"),
        ({}, {"door": DOOR_MOVED}, "rules.0.zone: camera 'lobby' has no zone 'walkway'"),
        ({"walkway": RIGHT_HALF}, {}, "rules.1.line: no camera has a line 'door'"),
        ({"walkway": RIGHT_HALF, "bad name!": RIGHT_HALF}, {"door": DOOR_MOVED}, "cameras.lobby.zones.bad name!"),
    ],
    ids=["point outside the frame", "two-point zone", "three-point line", "zone a rule needs", "line a rule needs",
         "bad name"],
)
def test_invalid_shapes_are_refused_by_field_and_the_file_untouched(config_file, zones, lines, problem) -> None:
    editor = ShapeEditor(config_file, pipeline=None)
    with pytest.raises(ConfigError) as raised:
        editor.save("lobby", zones=zones, lines=lines)
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems
    assert config_file.read_text() == ORIGINAL
    assert not config_file.with_name("vigil.yaml.bak").exists()


def test_unknown_camera_is_refused(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="cameras.garage: no such camera"):
        ShapeEditor(config_file, pipeline=None).save("garage", zones={}, lines={})


ZONE_BGR, LINE_BGR, BLACK = [255, 194, 0], [0, 176, 255], [0, 0, 0]


def test_a_saved_zone_is_what_the_next_frame_is_judged_and_drawn_with(config_file: Path, tmp_path: Path) -> None:
    config = load_config(config_file)
    # Stands in for Pipeline (which would load the detector): its one copy of the shapes, which the editor swaps,
    # read by the rules and by a snapshot writer built before the edit, as the pipeline's writer is.
    pipeline = SimpleNamespace(shapes=site_shapes(config))
    engine = AlertEngine(build_rules(config), pipeline.shapes)
    view, drawn = OperatorView(pipeline.shapes), []
    snapshots = SnapshotWriter(tmp_path / "media", render=lambda *args: drawn.append(view(*args)) or drawn[-1])
    person_right = objects((1, "person", 0.9, box_at(80, 80)))
    assert started(engine.process(frame(0.0, "lobby"), person_right)) == [], "right half is outside the old walkway"

    ShapeEditor(config_file, pipeline).save("lobby", zones={"walkway": RIGHT_HALF}, lines={"door": DOOR_MOVED})

    [start] = [e for e in engine.process(frame(0.2, "lobby"), person_right) if isinstance(e, AlertStarted)]
    assert (start.alert.rule, start.alert.zone, start.alert.track_id) == ("on-walkway", "walkway", 1), "new zone used"
    snapshots.started(start)
    [picture] = drawn
    edited = CameraShapes(zones={"walkway": RIGHT_HALF}, lines={"door": DOOR_MOVED})
    np.testing.assert_array_equal(picture, annotate(start.frame.image, snapshot_detections(start.alert), edited))
    assert picture[90, 99].tolist() == ZONE_BGR and picture[90, 0].tolist() == BLACK, "the new walkway, not the old"
    assert picture[30, 80].tolist() == LINE_BGR and picture[30, 20].tolist() == BLACK, "the moved door, not the old"
    assert pipeline.shapes.of("yard") == CameraShapes(zones={"gate": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]}), \
        "other camera untouched"


class RecordingEditor:
    """A shape service for the dashboard tests: remembers what it saved, refuses zones named `bad`."""

    cameras = ["lobby"]

    def __init__(self) -> None:
        self.saved: list[tuple] = []

    def shapes(self, camera: str) -> dict:
        zones, lines = self.saved[-1][1:] if self.saved else ({"walkway": RIGHT_HALF}, {})
        return {"zones": zones, "lines": lines}

    def save(self, camera: str, zones: dict, lines: dict) -> None:
        if "bad" in zones:
            raise ConfigError("vigil.yaml", ["cameras.lobby.zones.bad: List should have at least 3 items"])
        self.saved.append((camera, zones, lines))


@pytest.fixture
def zone_site(site):
    editor, hub = RecordingEditor(), LiveHub(render=lambda camera, image, detections: image)
    register_zones(site.app, editor, hub)
    return SimpleNamespace(site=site, editor=editor, hub=hub)


def post_shapes(client, body: dict, token: str | None):
    headers = {"X-CSRF-Token": token} if token else {}
    return client.post("/api/cameras/lobby/shapes", json=body, headers=headers)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_may_edit_zones(zone_site, role: str) -> None:
    client = zone_site.site.client(role)
    for path in ("/zones", "/zones/lobby", "/zones/lobby/frame.jpg"):
        assert client.get(path).status_code == 403, path
    assert post_shapes(client, {"zones": {}, "lines": {}}, csrf(client)).status_code == 403
    assert b"/zones" not in client.get("/alerts").data, "no Zones link for non-admins"
    assert zone_site.editor.saved == []


def test_admin_saves_shapes_with_a_csrf_token(zone_site) -> None:
    client = zone_site.site.client("admin")
    assert b'href="/zones"' in client.get("/alerts").data
    page = client.get("/zones/lobby")
    assert page.status_code == 200 and b"data-overlay" in page.data and b"walkway" in page.data
    assert client.get("/zones/garage").status_code == 404
    body = {"zones": {"door": [[0.1, 0.1], [0.2, 0.1], [0.2, 0.3]]}, "lines": {"in": [[0, 0.5], [1, 0.5]]}}
    assert post_shapes(client, body, None).status_code == 400, "no CSRF token"
    assert zone_site.editor.saved == []
    saved = post_shapes(client, body, csrf(client))
    assert saved.status_code == 200 and saved.json == body
    assert zone_site.editor.saved == [("lobby", body["zones"], body["lines"])]
    refused = post_shapes(client, {"zones": {"bad": [[0, 0]]}, "lines": {}}, csrf(client))
    assert refused.status_code == 400
    assert refused.json["problems"] == ["cameras.lobby.zones.bad: List should have at least 3 items"]
    assert post_shapes(client, {"zones": [1, 2]}, csrf(client)).status_code == 400, "zones must be a mapping"


def test_the_editor_shows_the_camera_latest_frame(zone_site) -> None:
    client = zone_site.site.client("admin")
    zone_site.hub.publish("lobby", np.full((48, 64, 3), 90, np.uint8), sv.Detections.empty())
    frame = client.get("/zones/lobby/frame.jpg")
    assert frame.status_code == 200 and frame.mimetype == "image/jpeg" and frame.data[:2] == b"\xff\xd8"


def test_without_a_frame_the_frame_url_says_so(site) -> None:
    register_zones(site.app, RecordingEditor(), None)
    missing = site.client("admin").get("/zones/lobby/frame.jpg")
    assert missing.status_code == 404 and b"no frame" in missing.data
