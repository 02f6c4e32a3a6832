"""Train/val split that honours `val_fraction`: whole clips when there are enough, else a time window per clip."""

from __future__ import annotations

import bisect
import random
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from finetune.dataset import DatasetError, ManifestEntry

SHARE_TOLERANCE = 0.1
"""How far the held-out share of the used frames may be from `val_fraction`."""
_ATTEMPTS = 200
"""Seeded placements tried before the dataset is called too small to split."""


@dataclass(frozen=True, slots=True)
class Split:
    train: list[str]
    val: list[str]
    guarded: list[str]
    """Training frames left out because a held-out frame of their clip is within `guard_s`."""
    val_units: list[str]
    """What was held out: whole clips as `clip`, windows as `clip@12.0-20.0s`, and `N images`."""
    method: str
    """`clips` (whole clips held out) or `windows` (a time window of each clip)."""

    @property
    def val_share(self) -> float:
        return len(self.val) / max(1, len(self.val) + len(self.train))


@dataclass(frozen=True, slots=True)
class _Clip:
    name: str
    entries: list[ManifestEntry]
    """Sorted by time."""
    times: list[float]
    frame_step_s: float


def split_dataset(
    entries: Sequence[ManifestEntry],
    taught: Mapping[str, frozenset[str]],
    *,
    val_fraction: float,
    guard_s: float,
    seed: int,
) -> Split:
    """Hold out about `val_fraction` of the frames, with every taught class on both sides.

    `taught` gives, per sample id, the classes people labelled in it. Whole
    clips are held out when some choice of them lands within
    `SHARE_TOLERANCE` of `val_fraction`; otherwise each clip gives a window
    of `val_fraction` of its length, and training frames within `guard_s` of
    a held-out frame of the same clip are left out. Images without a time
    are held out one by one. The same entries and seed give the same split.

    Example:
        >>> split = split_dataset(dataset.entries(), dataset.taught_classes(), val_fraction=0.2, guard_s=2, seed=0)  # doctest: +SKIP
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    clips = _clips(entries)
    images = sorted((e for e in entries if e.time_s is None), key=lambda e: e.id)
    rng = random.Random(seed)
    attempts = (
        ("clips", lambda: _whole_clips(clips, images, val_fraction, rng)),
        ("windows", lambda: _windows(clips, images, val_fraction, guard_s, rng)),
    )
    for method, attempt in attempts:
        for _ in range(_ATTEMPTS):
            split = attempt()
            if split is not None and _acceptable(split, taught, val_fraction):
                return Split(*split, method=method)
    raise DatasetError(_too_small(entries, clips, images, taught, val_fraction, guard_s))


def _clips(entries: Sequence[ManifestEntry]) -> list[_Clip]:
    by_clip: dict[str, list[ManifestEntry]] = defaultdict(list)
    for entry in entries:
        if entry.time_s is not None:
            by_clip[entry.clip].append(entry)
    clips = []
    for name in sorted(by_clip):
        ordered = sorted(by_clip[name], key=lambda e: (e.time_s, e.id))
        times = [float(e.time_s) for e in ordered]  # type: ignore[arg-type]
        steps = [b - a for a, b in zip(times, times[1:]) if b > a]
        clips.append(_Clip(name, ordered, times, statistics.median(steps) if steps else 0.0))
    return clips


_Parts = tuple[list[str], list[str], list[str], list[str]]


def _whole_clips(clips: list[_Clip], images: list[ManifestEntry], val_fraction: float,
                 rng: random.Random) -> _Parts | None:
    """Clips in a random order, held out until about `val_fraction` of the frames; images likewise."""
    units: list[tuple[str, list[ManifestEntry]]] = [(c.name, c.entries) for c in clips]
    units += [(e.id, [e]) for e in images]
    if len(units) < 2 or not clips:
        return None
    rng.shuffle(units)
    wanted = val_fraction * sum(len(members) for _, members in units)
    held: list[tuple[str, list[ManifestEntry]]] = []
    held_count = 0
    for unit in units[:-1]:
        if held_count + len(unit[1]) / 2 > wanted:
            break
        held.append(unit)
        held_count += len(unit[1])
    if not held:
        return None
    held_names = {name for name, _ in held}
    train = [e.id for name, members in units if name not in held_names for e in members]
    val = [e.id for _, members in held for e in members]
    clip_names = {c.name for c in clips}
    held_images = sum(1 for name, _ in held if name not in clip_names)
    val_units = sorted(name for name, _ in held if name in clip_names)
    if held_images:
        val_units.append(f"{held_images} images")
    return sorted(train), sorted(val), [], val_units


def _windows(clips: list[_Clip], images: list[ManifestEntry], val_fraction: float, guard_s: float,
             rng: random.Random) -> _Parts:
    """A window of `val_fraction` of each clip's length at a random place; training loses its edges."""
    train: list[str] = []
    val: list[str] = []
    guarded: list[str] = []
    val_units: list[str] = []
    for clip in clips:
        length = clip.times[-1] - clip.times[0] + clip.frame_step_s
        window = val_fraction * length
        start = clip.times[0] + rng.uniform(0.0, length - window)
        low, high = bisect.bisect_left(clip.times, start), bisect.bisect_left(clip.times, start + window)
        if low == high:
            train += [e.id for e in clip.entries]
            continue
        first, last = clip.times[low], clip.times[high - 1]
        val_units.append(f"{clip.name}@{first:.1f}-{last:.1f}s")
        for index, entry in enumerate(clip.entries):
            if low <= index < high:
                val.append(entry.id)
            elif min(abs(clip.times[index] - first), abs(clip.times[index] - last)) < guard_s:
                guarded.append(entry.id)
            else:
                train.append(entry.id)
    held_images = {e.id for e in images if rng.random() < val_fraction}
    val += sorted(held_images)
    train += [e.id for e in images if e.id not in held_images]
    if held_images:
        val_units.append(f"{len(held_images)} images")
    return sorted(train), sorted(val), sorted(guarded), val_units


def _acceptable(parts: _Parts, taught: Mapping[str, frozenset[str]], val_fraction: float) -> bool:
    train, val = parts[0], parts[1]
    if not train or not val or abs(len(val) / (len(train) + len(val)) - val_fraction) > SHARE_TOLERANCE:
        return False
    everything = set().union(*(taught.get(i, frozenset()) for i in [*train, *val]))
    for side in (train, val):
        if not everything <= set().union(*(taught.get(i, frozenset()) for i in side)):
            return False
    return True


def _too_small(entries: Sequence[ManifestEntry], clips: list[_Clip], images: list[ManifestEntry],
               taught: Mapping[str, frozenset[str]], val_fraction: float, guard_s: float) -> str:
    frames_per_class: dict[str, int] = defaultdict(int)
    for entry in entries:
        for name in taught.get(entry.id, frozenset()):
            frames_per_class[name] += 1
    seconds = sum(c.times[-1] - c.times[0] + c.frame_step_s for c in clips)
    classes = ", ".join(f"{name} in {count} frame(s)" for name, count in sorted(frames_per_class.items()))
    return (
        f"cannot hold out {val_fraction:.0%} of the dataset with every labelled class on both sides: "
        f"{len(entries)} frame(s) in {len(clips)} clip(s) of {seconds:.1f} s in all and {len(images)} image(s); "
        f"{classes or 'no labelled class'}; {guard_s:g} s around held-out frames stay out of training. "
        "Label more frames or import another clip"
    )
