"""The pure parts of fine-tuning: split by clip, the evaluation gate, the registry, the retraining schedule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from finetune.dataset import DatasetError, ManifestEntry
from finetune.evaluation import ClassMetrics, ModelEvaluation
from finetune.gate import promote_if_better
from finetune.split import split_dataset
from vigil.retraining import interval_elapsed, time_of_day_passed


def _entries(clips: dict[str, int], fps: float = 2.0) -> list[ManifestEntry]:
    return [
        ManifestEntry(f"{clip}-{i:04d}", clip, i, i / fps, "test", "imp", 1, 0, "0" * 64)
        for clip, count in clips.items()
        for i in range(count)
    ]


def _split(entries, seed=0, taught=None, **overrides):
    settings = dict(val_fraction=0.2, guard_s=2.0, seed=seed) | overrides
    return split_dataset(entries, taught or {}, **settings)


def _packages_now_and_then(entries: list[ManifestEntry], lying_s: float = 4.0) -> dict[str, frozenset[str]]:
    """A package lies in view for `lying_s` out of every 3 × `lying_s` seconds of each clip."""
    return {e.id: frozenset({"package"}) if e.time_s % (3 * lying_s) < lying_s else frozenset() for e in entries}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("val_fraction", [0.2, 0.3])
def test_one_clip_is_split_by_a_window_near_val_fraction_with_a_guard_and_the_taught_class_on_both_sides(
    seed: int, val_fraction: float
) -> None:
    """The issue's case: one 40 s clip every 5th frame (2 fps) with packages a few seconds at a time."""
    entries = _entries({"site": 80})
    taught = _packages_now_and_then(entries)
    split = _split(entries, seed=seed, taught=taught, val_fraction=val_fraction)
    assert split.method == "windows"
    assert abs(split.val_share - val_fraction) <= 0.1, (len(split.train), len(split.val))
    assert sorted(split.train + split.val + split.guarded) == sorted(e.id for e in entries)
    time_of = {e.id: e.time_s for e in entries}
    assert all(abs(time_of[v] - time_of[t]) >= 2.0 for v in split.val for t in split.train)
    assert split.guarded, "the frames next to the window are left out of training"
    for side in (split.train, split.val):
        assert any(taught[i] for i in side)


def test_several_clips_are_held_out_whole():
    entries = _entries({name: 20 for name in "abcdefghij"})
    split = _split(entries, taught=_packages_now_and_then(entries))
    clips = lambda ids: {i.split("-")[0] for i in ids}  # noqa: E731
    assert split.method == "clips" and not clips(split.train) & clips(split.val)
    assert split.val_units == sorted(clips(split.val)) and len(split.val_units) == 2
    assert not split.guarded


def test_two_clips_are_not_split_in_half_but_by_a_window_of_each():
    entries = _entries({"a": 40, "b": 40})
    split = _split(entries, taught=_packages_now_and_then(entries))
    assert split.method == "windows" and abs(split.val_share - 0.2) <= 0.1
    assert {unit.split("@")[0] for unit in split.val_units} == {"a", "b"}


def test_the_same_seed_gives_the_same_split_and_another_seed_may_differ():
    entries = _entries({"a": 200, "b": 200})
    assert _split(entries, seed=7) == _split(entries, seed=7)
    assert len({tuple(_split(entries, seed=s).val_units) for s in range(6)}) > 1


def test_images_without_times_are_held_out_one_by_one():
    entries = [ManifestEntry(f"x-{i}", "x", i, None, "yolo", "imp", 1, 0, "0" * 64) for i in range(50)]
    split = _split(entries, val_fraction=0.3)
    assert abs(split.val_share - 0.3) <= 0.1 and not split.guarded


def test_a_dataset_too_small_to_split_says_so_with_its_numbers():
    entries = _entries({"a": 6})
    taught = {e.id: frozenset({"package"}) if e.frame == 0 else frozenset() for e in entries}
    with pytest.raises(DatasetError, match=r"6 frame\(s\) in 1 clip\(s\) of 3.0 s.*package in 1 frame\(s\)"):
        _split(entries, taught=taught)


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


def _with_live_model_people(evaluation: ModelEvaluation, ap50: float, recall: float) -> ModelEvaluation:
    people = ClassMetrics(40, ap50, ap50, 0.9, recall, None, 0, pseudo_labelled=True)
    return ModelEvaluation(evaluation.model, evaluation.frames, evaluation.map50_95, evaluation.classes | {"person": people})


def test_gate_judges_people_nobody_labelled_on_recall_of_the_live_models_boxes_with_defaults():
    """AP against the live model's own boxes punishes a candidate whose scores rose; recall at its confidence does not."""
    current = _with_live_model_people(_evaluation("base", package=0.0), ap50=0.99, recall=0.99)
    learnt = _with_live_model_people(_evaluation("candidate", package=0.9), ap50=0.90, recall=0.97)
    decision = promote_if_better(learnt, current, {"package"})
    assert decision.promote, decision.reasons
    assert "person: recall of the live model's boxes 0.990 → 0.970 (kept)" in decision.reasons
    forgot = _with_live_model_people(_evaluation("candidate", package=0.9), ap50=0.95, recall=0.60)
    decision = promote_if_better(forgot, current, {"package"})
    assert not decision.promote and "person: recall of the live model's boxes 0.990 → 0.600 (lost more than 0.05)" \
        in decision.reasons


def test_gate_refuses_what_it_cannot_judge():
    unmeasured = _evaluation("candidate", person=0.9, package=None)
    assert not promote_if_better(unmeasured, _evaluation("base", person=0.8, package=None), {"package"}).promote
    assert not promote_if_better(unmeasured, unmeasured, set()).promote


def test_gate_needs_more_than_min_gain():
    current = _evaluation("base", package=0.50)
    assert not promote_if_better(_evaluation("c", package=0.55), current, {"package"}, min_gain=0.1).promote
    assert promote_if_better(_evaluation("c", package=0.65), current, {"package"}, min_gain=0.1).promote


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
