"""The evaluation gate: may a candidate replace the live model?"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from finetune.evaluation import ModelEvaluation


@dataclass(frozen=True, slots=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)
    """Why, one line per class judged."""


def promote_if_better(
    candidate: ModelEvaluation,
    current: ModelEvaluation,
    taught_classes: Collection[str],
    *,
    metric: str = "ap50",
    min_gain: float = 0.02,
    max_old_class_drop: float = 0.05,
) -> GateDecision:
    """Promote only if every class the dataset teaches gains more than `min_gain` on `metric` and no other class
    loses more than `max_old_class_drop`; a taught class without held-out instances cannot be judged, so it blocks.

    An old class whose held-out boxes are all the live model's (nobody drew one; taken at the pseudo-label
    scores, by default the pipeline's confidence) is judged on recall at the operating confidence: how many of
    the objects the live model reports the candidate still reports. AP against them would punish a candidate whose scores rose with fine-tuning for
    every object the live model scored just under the threshold; a candidate that learnt to leave them as
    background loses recall and fails.

    Example:
        >>> promote_if_better(candidate, current, {"package"}).promote  # doctest: +SKIP
        True
    """
    promote = True
    reasons: list[str] = []
    if not taught_classes:
        return GateDecision(False, ["the dataset has no labelled class to judge the candidate on"])
    for name in sorted(taught_classes):
        new = candidate.value(name, metric)
        if new is None:
            promote = False
            reasons.append(f"{name}: no held-out instances, the candidate cannot be judged on it")
            continue
        old = current.value(name, metric) or 0.0
        gained = new - old > min_gain
        promote &= gained
        reasons.append(f"{name}: {metric} {old:.3f} → {new:.3f} ({'better' if gained else 'not better'})")
    for name in sorted(set(candidate.classes) - set(taught_classes)):
        measure = "recall" if candidate.classes[name].pseudo_labelled else metric
        new, old = candidate.value(name, measure), current.value(name, measure)
        if new is None or old is None:
            continue
        kept = old - new <= max_old_class_drop
        promote &= kept
        verdict = "kept" if kept else f"lost more than {max_old_class_drop:g}"
        source = " of the live model's boxes" if candidate.classes[name].pseudo_labelled else ""
        reasons.append(f"{name}: {measure}{source} {old:.3f} → {new:.3f} ({verdict})")
    return GateDecision(promote, reasons)
