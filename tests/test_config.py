"""Config validation: every bad input names its field; `vigil check-config` reports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigil.config import ConfigError, check_rule_classes, load_config

ROOT = Path(__file__).resolve().parents[1]


def good_config(video: Path) -> dict:
    return {
        "cameras": {"lobby": {"url": str(video), "detect_fps": 5}},
        "detector": {"model": "default", "labels": {"Normal": "person", "Fall": "fallen_person"}},
        "rules": [{"name": "person-seen", "kind": "presence", "classes": ["person"]}],
    }


def problems_of(write_config, config: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(config))
    return caught.value.problems


def test_the_demo_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.cameras["lobby"].url == str(ROOT / "data" / "samples" / "lobby.mp4"), "relative to the file"
    assert config.storage.database == str(ROOT / "data" / "vigil.db")
    assert [rule.kind for rule in config.rules] == [
        "presence", "presence", "dwell", "line_crossing", "occupancy", "presence"
    ]
    assert config.rules[-1].schedule.to_schedule().timezone.key == "Europe/Paris"
    assert check_rule_classes(config, ["person", "fallen_person"]) == []


def test_unknown_key_is_named_with_its_path(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["lobby"]["detectfps"] = 5
    config["detector"]["batch"] = 4
    assert problems_of(write_config, config) == ["cameras.lobby.detectfps: unknown key", "detector.batch: unknown key"]


def test_wrong_types_name_field_and_value(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["lobby"]["detect_fps"] = "fast"
    config["detector"]["imgsz"] = -32
    problems = problems_of(write_config, config)
    assert any(p.startswith("cameras.lobby.detect_fps:") and "'fast'" in p for p in problems), problems
    assert any(p.startswith("detector.imgsz:") and "-32" in p for p in problems), problems


def test_bad_url_scheme_is_rejected_without_leaking_the_password(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["lobby"]["url"] = "ftp://admin:hunter2@10.0.0.9/stream"
    [problem] = problems_of(write_config, config)
    assert problem.startswith("cameras.lobby.url: unsupported URL scheme 'ftp'")
    assert "hunter2" not in problem


def test_unknown_rule_kind(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["rules"].append({"name": "x", "kind": "teleport", "classes": ["person"]})
    assert problems_of(write_config, config) == [
        "rules.1.kind: unknown kind 'teleport'; expected 'presence', 'dwell', 'line_crossing', 'occupancy'"
    ]


def test_rule_naming_an_unknown_camera_or_a_taken_name(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["rules"].append({"name": "y", "kind": "presence", "classes": ["person"], "cameras": ["garage"]})
    config["rules"].append({"name": "y", "kind": "presence", "classes": ["person"]})
    assert problems_of(write_config, config) == [
        "rules.1.cameras.0: unknown camera 'garage'",
        "rules.2.name: duplicate rule name 'y'",
    ]


def test_rules_must_name_zones_and_lines_their_cameras_have(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["lobby"]["zones"] = {"hall": [[0, 0], [1, 0], [1, 1]]}
    config["cameras"]["gate"] = {"url": str(sample_video), "lines": {"door": [[0.5, 0], [0.5, 1]]}}
    config["rules"] += [
        {"name": "a", "kind": "dwell", "zone": "hall", "min_dwell_s": 5, "classes": ["person"], "cameras": ["gate"]},
        {"name": "b", "kind": "line_crossing", "line": "window", "classes": ["person"]},
        {"name": "c", "kind": "occupancy", "zone": "hall", "classes": ["person"]},
    ]
    assert problems_of(write_config, config) == [
        "rules.1.zone: camera 'gate' has no zone 'hall'",
        "rules.2.line: no camera has a line 'window'",
    ]


def test_bad_shapes_and_schedules_name_the_field(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["lobby"]["zones"] = {"hall": [[0, 0], [1.2, 0], [1, 1]], "flat": [[0, 0], [1, 1]]}
    config["cameras"]["lobby"]["lines"] = {"door": [[0.5, 0], [0.5, 1], [0.6, 1]]}
    config["rules"][0]["schedule"] = {"days": ["mon", "funday"], "start": "22:00", "end": "6am", "timezone": "Mars/Base"}
    problems = problems_of(write_config, config)
    assert any(p.startswith("cameras.lobby.zones.hall.1.0:") and "1.2" in p for p in problems), problems
    assert any(p.startswith("cameras.lobby.zones.flat:") for p in problems), problems
    assert any(p.startswith("cameras.lobby.lines.door:") for p in problems), problems
    assert any(p.startswith("rules.0.schedule: bad time '6am'") for p in problems), problems


def test_unknown_class_in_a_rule_names_the_model_classes(sample_video, write_config) -> None:
    config = good_config(sample_video)
    config["rules"][0]["classes"] = ["person", "car"]
    problems = check_rule_classes(load_config(write_config(config)), ["person", "fallen_person"])
    assert problems == ["rules.0.classes.1: unknown class 'car'; the model's classes are person, fallen_person"]


def test_env_substitution_and_missing_variable(write_config, sample_video, monkeypatch) -> None:
    config = good_config(sample_video)
    config["cameras"]["gate"] = {"url": "rtsp://viewer:${GATE_PASSWORD}@127.0.0.1:8554/gate"}
    path = write_config(config)
    monkeypatch.setenv("GATE_PASSWORD", "s3cret")
    assert load_config(path).cameras["gate"].url == "rtsp://viewer:s3cret@127.0.0.1:8554/gate"
    monkeypatch.delenv("GATE_PASSWORD")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == ["cameras.gate.url: environment variable GATE_PASSWORD is not set"]


def test_camera_names_must_be_safe_for_paths(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["../etc"] = {"url": str(sample_video)}
    assert any(p.startswith("cameras.../etc") for p in problems_of(write_config, config))


def test_camera_motion_keys_replace_only_the_global_ones_they_name(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["motion"] = {"threshold": 30, "mask": [[[0, 0], [0.2, 0], [0.2, 0.2]]], "check_every_s": 10}
    config["cameras"]["lobby"]["motion"] = {"min_area": 0.01, "mask": []}
    config["cameras"]["gate"] = {"url": "rtsp://10.0.0.5/main", "detect_url": "sub.mp4"}
    loaded = load_config(write_config(config))
    lobby, gate = (loaded.motion.overridden_by(loaded.cameras[name].motion).settings() for name in ("lobby", "gate"))
    assert (lobby.enabled, lobby.threshold, lobby.min_area, lobby.mask, lobby.check_every_s) == (
        True, 30, 0.01, (), 10.0
    )
    assert gate.mask == (((0.0, 0.0), (0.2, 0.0), (0.2, 0.2)),) and gate.min_area == loaded.motion.min_area
    assert loaded.cameras["gate"].detect_url == str(write_config(config).parent / "sub.mp4"), "relative to the file"
    assert loaded.cameras["lobby"].detect_url is None


def test_bad_motion_keys_name_the_field(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["motion"] = {"mask": [[[0, 0], [1.5, 0], [1, 1]]], "sensitivity": 3, "threshold": 0}
    config["cameras"]["lobby"]["motion"] = {"mask": [[[0, 0], [1, 1]]], "enable": False}
    problems = problems_of(write_config, config)
    assert any(p.startswith("motion.mask.0.1.0:") and "1.5" in p for p in problems), problems
    assert "motion.sensitivity: unknown key" in problems
    assert any(p.startswith("motion.threshold:") for p in problems), problems
    assert any(p.startswith("cameras.lobby.motion.mask.0:") for p in problems), problems
    assert "cameras.lobby.motion.enable: unknown key" in problems


def test_a_bad_detect_url_is_rejected_without_leaking_the_password(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["cameras"]["lobby"]["detect_url"] = "ftp://admin:hunter2@10.0.0.9/sub"
    [problem] = problems_of(write_config, config)
    assert problem.startswith("cameras.lobby.detect_url: unsupported URL scheme 'ftp'")
    assert "hunter2" not in problem


def test_not_yaml_and_missing_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=120)


def test_check_config_cli_prints_ok_or_every_error(write_config, sample_video) -> None:
    ok = vigil("check-config", str(write_config(good_config(sample_video))))
    assert (ok.returncode, ok.stdout.strip()) == (0, "OK")

    config = good_config(sample_video)
    config["cameras"]["lobby"]["loop"] = "sometimes"
    config["rules"][0]["classes"] = ["car"]
    config["storage"] = {"databse": "x.db"}
    bad = vigil("check-config", str(write_config(config, "bad.yaml")))
    assert bad.returncode == 2
    assert "cameras.lobby.loop" in bad.stderr and "'sometimes'" in bad.stderr
    assert "storage.databse: unknown key" in bad.stderr
    assert bad.stdout == ""


def test_check_config_cli_reports_unknown_rule_class(write_config, sample_video) -> None:
    config = good_config(sample_video)
    config["rules"][0]["classes"] = ["forklift"]
    result = vigil("check-config", str(write_config(config)))
    assert result.returncode == 2
    assert "rules.0.classes.0: unknown class 'forklift'" in result.stderr


def test_a_cluster_needs_a_shared_database_and_a_ray_address(write_config) -> None:
    from vigil.config import on_cluster

    camera = {"lobby": {"url": "lobby.mp4"}}
    with pytest.raises(ConfigError, match="storage.database: a cluster's nodes write to one database"):
        load_config(write_config({"cameras": camera, "cluster": {"max_cameras_per_worker": 2}}))
    with pytest.raises(ConfigError, match=r"cluster.address: .*use auto, local"):
        load_config(write_config({"cameras": camera, "cluster": {"address": "head-without-port"},
                                  "storage": {"database": "postgresql+psycopg://vigil@db.lan/vigil"}}, name="b.yaml"))
    embedded = load_config(write_config({"cameras": camera}, name="embedded.yaml"))
    assert embedded.cluster is None, "one process unless asked"
    with pytest.raises(ConfigError, match="storage.database: a cluster's nodes"):
        on_cluster(embedded, "auto", "embedded.yaml")
    shared = load_config(write_config({"cameras": camera, "cluster": {"spare_workers": 2},
                                       "storage": {"database": "postgresql+psycopg://vigil@db.lan/vigil"}},
                                      name="shared.yaml"))
    clustered = on_cluster(shared, "ray://head.lan:10001", "shared.yaml")
    assert (clustered.cluster.address, clustered.cluster.spare_workers) == ("ray://head.lan:10001", 2)
    assert on_cluster(shared, "local", "shared.yaml").cluster.ray_address is None, "local starts Ray here"
    with pytest.raises(ConfigError, match=r"--cluster: .*\(got 'nowhere'\)"):
        on_cluster(shared, "nowhere", "shared.yaml")
