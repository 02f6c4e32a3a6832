"""Rule thresholds against the scores the model gives: a threshold above most of them misses most objects."""

from __future__ import annotations

from collections.abc import Mapping

from detector.score_profile import ClassScores
from vigil.config import VigilConfig
from vigil.rule_factory import class_thresholds

MIN_SCORES = 50
"""Fewer recent scores of a class than this say nothing about it."""


def threshold_warnings(config: VigilConfig, scores: Mapping[str, ClassScores]) -> list[str]:
    """One line per rule and class whose threshold sits above most of the class's recent scores (a threshold set
    for the class in `detector.class_conf` is taken as deliberate).

    Example:
        >>> threshold_warnings(config, load_score_summary(config.storage.score_profile))  # doctest: +SKIP
        ['rule crowd asks person for 0.50, above 83% of the 1840 recent person scores (median 0.41) …']
    """
    warnings = []
    for name, rules in class_thresholds(config).items():
        profile = scores.get(name)
        if profile is None or profile.count < MIN_SCORES:
            continue
        for threshold in rules:
            below = profile.share_below(threshold.score)
            if below > 0.5 and not threshold.deliberate:
                warnings.append(
                    f"rule {threshold.rule} asks {name} for {threshold.score:.2f}, above {below:.0%} of the {profile.count} recent "
                    f"{name} scores (median {profile.quartiles[1]:.2f}): it will miss most of them; lower its "
                    "min_score, or leave it out to use detector.conf"
                )
    return warnings
