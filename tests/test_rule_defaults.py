"""Rule thresholds that fit the model: defaults from detector.conf / class_conf, warnings from its recent scores."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import supervision as sv

from detector.score_profile import RuleThreshold, ScoreProfile, load_score_summary
from tests.dashboard_support import build_site
from vigil.config import ConfigError, load_config
from vigil.rule_factory import build_rules, class_thresholds
from vigil.threshold_check import threshold_warnings


def _config(write_config, sample_video, tmp_path, rules: list[dict], **detector) -> object:
    return load_config(write_config({
        "cameras": {"lobby": {"url": str(sample_video)}},
        "detector": {"model": "default", **detector},
        "rules": rules,
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media")},
    }))


def _walkers(count: int = 400, median: float = 0.41) -> sv.Detections:
    """Person scores spread as the bundled model's on the sample scene (median ~0.41)."""
    scores = np.clip(np.random.default_rng(0).normal(median, 0.03, count), 0.36, 0.99)
    return sv.Detections(xyxy=np.zeros((count, 4)), confidence=scores,
                         data={"class_name": np.array(["person"] * count)})


def test_a_rule_without_min_score_asks_for_detector_conf_or_its_class_conf(write_config, sample_video, tmp_path):
    config = _config(write_config, sample_video, tmp_path, [
        {"name": "anyone", "kind": "presence", "classes": ["person", "fallen_person"]},
        {"name": "strict", "kind": "presence", "classes": ["person"], "min_score": 0.6},
    ], conf=0.3, class_conf={"fallen_person": 0.7})
    anyone, strict = build_rules(config)
    assert (anyone.settings.min_score, dict(anyone.settings.class_min_score)) == (0.3, {"person": 0.3, "fallen_person": 0.7})
    assert (strict.settings.min_score, dict(strict.settings.class_min_score)) == (0.6, {})
    assert class_thresholds(config) == {
        "person": [RuleThreshold("anyone", 0.3), RuleThreshold("strict", 0.6)],
        "fallen_person": [RuleThreshold("anyone", 0.7, deliberate=True)],
    }


def test_a_class_conf_under_conf_names_the_field(write_config, sample_video, tmp_path):
    with pytest.raises(ConfigError) as error:
        _config(write_config, sample_video, tmp_path, [], conf=0.4, class_conf={"person": 0.2})
    assert "class_conf.person: 0.2 is below conf 0.4" in str(error.value.problems)


def test_a_threshold_above_most_recent_scores_is_warned_about_and_the_default_is_not(write_config, sample_video, tmp_path):
    config = _config(write_config, sample_video, tmp_path, [
        {"name": "crowd", "kind": "presence", "classes": ["person"], "min_score": 0.5},
        {"name": "seen", "kind": "presence", "classes": ["person"]},
    ])
    profile = ScoreProfile()
    profile.add(_walkers())
    warnings = threshold_warnings(config, profile.summary())
    assert len(warnings) == 1 and warnings[0].startswith("rule crowd asks person for 0.50, above 9"), warnings
    assert "median 0.41" in warnings[0]
    assert threshold_warnings(config, ScoreProfile().summary()) == [], "no scores, no verdict"
    deliberate = _config(write_config, sample_video, tmp_path, [{"name": "falls", "kind": "presence", "classes": ["person"]}],
                         class_conf={"person": 0.6})
    assert threshold_warnings(deliberate, profile.summary()) == [], "a class_conf above the scores is on purpose"


def test_check_config_prints_the_warning_from_the_running_pipelines_scores(write_config, sample_video, tmp_path):
    path = write_config({
        "cameras": {"lobby": {"url": str(sample_video)}},
        "rules": [{"name": "crowd", "kind": "presence", "classes": ["person"], "min_score": 0.5}],
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media")},
    })
    profile = ScoreProfile()
    profile.add(_walkers())
    profile.save(load_config(path).storage.score_profile)
    assert load_score_summary(load_config(path).storage.score_profile)["person"].count == 400
    result = subprocess.run([sys.executable, "-m", "vigil", "check-config", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, "OK"), result.stderr
    assert re.search(r"warning: rule crowd asks person for 0\.50, above \d+% of the 400 recent person scores",
                     result.stderr)


def test_the_cameras_page_draws_each_class_scores_with_the_rules_thresholds(tmp_path, users_db):
    profile = ScoreProfile()
    profile.add(_walkers())
    site = build_site(tmp_path, users_db, health=lambda: {},
                      scores=profile.summary, rule_thresholds={"person": [RuleThreshold("crowd", 0.5), RuleThreshold("seen", 0.35)]})
    page = site.client("viewer").get("/cameras").text
    chart = re.search(r'<figure class="score-chart" data-class="person">(.*?)</figure>', page, re.S).group(1)
    assert len(re.findall(r'<rect [^>]*class="score-bar"', chart)) == 20
    assert re.search(r'class="threshold misses-most"><title>crowd: 0.50, above 9\d% of the scores', chart)
    assert re.search(r'class="threshold"><title>seen: 0.35, above 0% of the scores', chart)
    assert "median 0.41" in chart
    site.store.close()
