"""Train/val split by clip segment, so neighbouring frames of one clip never land on both sides."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from finetune.dataset import DatasetError, ManifestEntry


@dataclass(frozen=True, slots=True)
class Split:
    train: list[str]
    val: list[str]
    guarded: list[str]
    """Held-out samples left out because a training frame of their clip is within `guard_s`."""
    val_units: list[str]
    """The clip segments held out, as `clip@segment`."""


def _unit(entry: ManifestEntry, segment_s: float) -> tuple[str, int]:
    return entry.clip, 0 if entry.time_s is None else math.floor(entry.time_s / segment_s)


def split_by_clip(
    entries: Sequence[ManifestEntry], *, val_fraction: float, segment_s: float, guard_s: float, seed: int
) -> Split:
    """Hold out whole clip segments (`segment_s` long; a clip without times is one unit) until `val_fraction`
    of the samples are held out; the same entries and seed give the same split.

    Example:
        >>> split = split_by_clip(dataset.entries(), val_fraction=0.2, segment_s=30, guard_s=2, seed=0)  # doctest: +SKIP
    """
    units: dict[tuple[str, int], list[ManifestEntry]] = defaultdict(list)
    for entry in entries:
        units[_unit(entry, segment_s)].append(entry)
    if len(units) < 2:
        raise DatasetError(
            f"cannot hold out frames: the dataset has {len(units)} clip segment(s) of {segment_s:g} s; "
            "import at least two clips, or a clip longer than finetune.segment_s"
        )
    order = sorted(units)
    random.Random(seed).shuffle(order)
    wanted = val_fraction * len(entries)
    held: list[tuple[str, int]] = []
    held_count = 0
    for unit in order[:-1]:  # the last unit always trains
        if held and held_count >= wanted:
            break
        held.append(unit)
        held_count += len(units[unit])
    held_set = set(held)
    train = [e for unit in order if unit not in held_set for e in units[unit]]
    train_times: dict[str, list[float]] = defaultdict(list)
    for entry in train:
        if entry.time_s is not None:
            train_times[entry.clip].append(entry.time_s)
    val, guarded = [], []
    for unit in held:
        for entry in units[unit]:
            near = entry.time_s is not None and any(abs(entry.time_s - t) < guard_s for t in train_times[entry.clip])
            (guarded if near else val).append(entry.id)
    return Split(
        train=sorted(e.id for e in train),
        val=sorted(val),
        guarded=sorted(guarded),
        val_units=[f"{clip}@{segment}" for clip, segment in sorted(held)],
    )
