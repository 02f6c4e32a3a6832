"""The pure parts of fine-tuning: split by clip, the evaluation gate, the registry, the retraining schedule."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, time, timedelta

import pytest

from finetune.dataset import DatasetError, ManifestEntry
from finetune.evaluation import ClassMetrics, ModelEvaluation
from finetune.gate import promote_if_better
from finetune.registry import BASE_VERSION, ModelRegistry, RegistryError
from finetune.split import split_by_clip
from vigil.retraining import interval_elapsed, time_of_day_passed


def _entries(clips: dict[str, int], fps: float = 2.0) -> list[ManifestEntry]:
    return [
        ManifestEntry(f"{clip}-{i:04d}", clip, i, i / fps, "test", "imp", 1, 0, "0" * 64)
        for clip, count in clips.items()
        for i in range(count)
    ]


def _split(entries, seed=0, **overrides):
    settings = dict(val_fraction=0.25, segment_s=10.0, guard_s=2.0, seed=seed) | overrides
    return split_by_clip(entries, **settings)


def test_no_clip_segment_is_on_both_sides_and_neighbours_of_training_frames_are_left_out():
    entries = _entries({"a": 120, "b": 80, "c": 40})
    by_id = {e.id: e for e in entries}
    split = _split(entries)
    units = lambda ids: {(by_id[i].clip, int(by_id[i].time_s // 10)) for i in ids}  # noqa: E731
    assert split.val and split.train
    assert not units(split.train) & units(split.val + split.guarded)
    assert sorted(split.train + split.val + split.guarded) == sorted(by_id)
    train_times = {(by_id[i].clip, by_id[i].time_s) for i in split.train}
    for sample_id in split.val:
        clip, t = by_id[sample_id].clip, by_id[sample_id].time_s
        assert all(abs(t - other) >= 2.0 for c, other in train_times if c == clip)
    assert split.guarded, "segments that border training segments must lose their edge frames"


def test_the_same_seed_gives_the_same_split_and_another_seed_may_differ():
    entries = _entries({"a": 200, "b": 200})
    assert _split(entries, seed=7) == _split(entries, seed=7)
    assert len({tuple(_split(entries, seed=s).val_units) for s in range(6)}) > 1


def test_images_without_times_split_by_whole_import():
    entries = [ManifestEntry(f"{c}-{i}", c, i, None, "yolo", "imp", 1, 0, "0" * 64) for c in "xyz" for i in range(5)]
    split = _split(entries, val_fraction=0.3)
    clips = lambda ids: {i.split("-")[0] for i in ids}  # noqa: E731
    assert not clips(split.train) & clips(split.val)


def test_one_clip_segment_cannot_be_split():
    with pytest.raises(DatasetError, match="at least two clips"):
        _split(_entries({"a": 10}))


def _evaluation(model: str, **ap50: float | None) -> ModelEvaluation:
    return ModelEvaluation(
        model, 10, 0.5,
        {name: ClassMetrics(0 if v is None else 5, v, v, v, v, 0.0, 5) for name, v in ap50.items()},
    )


def test_gate_promotes_only_a_candidate_better_on_taught_classes_that_keeps_old_ones():
    current = _evaluation("base", person=0.80, package=0.0)
    better = _evaluation("candidate", person=0.79, package=0.60)
    assert promote_if_better(better, current, {"package"}).promote
    worse = _evaluation("candidate", person=0.80, package=0.0)
    decision = promote_if_better(worse, current, {"package"})
    assert not decision.promote and "package: ap50 0.000 → 0.000 (not better)" in decision.reasons
    forgetful = _evaluation("candidate", person=0.70, package=0.90)
    decision = promote_if_better(forgetful, current, {"package"}, max_old_class_drop=0.05)
    assert not decision.promote and any("person" in r and "lost more than 0.05" in r for r in decision.reasons)


def test_gate_refuses_what_it_cannot_judge():
    unmeasured = _evaluation("candidate", person=0.9, package=None)
    assert not promote_if_better(unmeasured, _evaluation("base", person=0.8, package=None), {"package"}).promote
    assert not promote_if_better(unmeasured, unmeasured, set()).promote


def test_gate_needs_more_than_min_gain():
    current = _evaluation("base", package=0.50)
    assert not promote_if_better(_evaluation("c", package=0.55), current, {"package"}, min_gain=0.1).promote
    assert promote_if_better(_evaluation("c", package=0.65), current, {"package"}, min_gain=0.1).promote


def test_registry_promotes_rolls_back_and_keeps_history(tmp_path):
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    registry = ModelRegistry(tmp_path / "models", base_model="default")
    assert registry.live().version == BASE_VERSION and registry.live().weights == "default"
    first = registry.add(weights, parent="base", dataset="site", classes=["person", "package"])
    second = registry.add(weights, parent=first.version, dataset="site")
    assert (first.version, second.version) == ("v0001", "v0002")
    assert (tmp_path / "models" / "v0001" / "weights.pt").read_bytes() == b"weights"
    assert registry.get("v0001").classes == ["person", "package"] and registry.get("v0001").created_at
    assert registry.live().version == "base", "registering is not promoting"
    assert registry.rollback_target() is None
    registry.promote("v0001", "test")
    registry.promote("v0002", "test")
    assert registry.live().version == "v0002" and registry.rollback_target() == "v0001"
    assert registry.rollback("test").live == "v0001"
    assert registry.rollback("test").live == "base"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    with pytest.raises(RegistryError, match="unknown model version 'v0009'"):
        registry.promote("v0009")
    with pytest.raises(RegistryError, match="already live"):
        registry.promote("base")
    assert [(e["action"], e["to"]) for e in registry.history()] == [
        ("promote", "v0001"), ("promote", "v0002"), ("rollback", "v0001"), ("rollback", "base")
    ]
    state = json.loads((tmp_path / "models" / "live.json").read_text())
    assert state["live"] == "base" and not list((tmp_path / "models").glob("*.tmp"))
    registry.promote("v0002")
    shutil.rmtree(tmp_path / "models" / "v0002")
    with pytest.raises(RegistryError, match="live model v0002 is missing .* `vigil finetune rollback`"):
        registry.live()


def test_retraining_fires_once_when_its_time_of_day_passes_and_the_interval_is_over():
    at = time(3, 0)
    day = datetime(2026, 11, 30, tzinfo=UTC)
    assert time_of_day_passed(day.replace(hour=2, minute=59, second=59), day.replace(hour=3), at)
    assert not time_of_day_passed(day.replace(hour=3), day.replace(hour=3, second=1), at)
    assert not time_of_day_passed(day.replace(hour=1), day.replace(hour=2), at)
    now = day.replace(hour=3)
    assert interval_elapsed(now, None, 7)
    assert not interval_elapsed(now, now - timedelta(days=3), 7)
    assert interval_elapsed(now, now - timedelta(days=7, seconds=-40), 7), "a run that began 40 s late still counts"
