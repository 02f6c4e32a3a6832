"""Which device's batcher serves each camera: the least loaded, by detect rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def detection_devices(device: str | Sequence[str]) -> list[str]:
    """The devices to run one batcher each on: `auto` is every CUDA GPU, or the CPU when there is none."""
    if isinstance(device, str):
        if device == "auto":
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
        return [device]
    return list(device)


def assign_cameras(detect_fps: Mapping[str, float], devices: int) -> dict[str, int]:
    """Camera → device index, each camera (busiest first) going to the device with the least load so far.

    Example:
        >>> assign_cameras({"a": 5, "b": 5, "c": 10, "d": 2}, devices=2)
        {'c': 0, 'a': 1, 'b': 1, 'd': 0}
    """
    load = [0.0] * devices
    assignment = {}
    for camera, fps in sorted(detect_fps.items(), key=lambda item: (-item[1], item[0])):
        index = min(range(devices), key=lambda i: (load[i], i))
        assignment[camera] = index
        load[index] += fps
    return assignment
