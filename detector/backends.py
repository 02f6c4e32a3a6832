"""Which inference runtime and precision serve the detector on this machine, with the fallbacks said out loud."""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import torch

Backend = Literal["auto", "pytorch", "openvino", "onnx", "tensorrt"]
Precision = Literal["auto", "fp32", "fp16", "int8"]
RUNTIME_MODULES = {"openvino": "openvino", "onnx": "onnxruntime", "tensorrt": "tensorrt"}
"""The Python module each exported backend needs at run time."""
_PRECISIONS = {
    "pytorch": {"cpu": ("fp32",), "cuda": ("fp32", "fp16")},
    "openvino": {"cpu": ("fp32", "fp16", "int8")},
    "onnx": {"cpu": ("fp32", "int8"), "cuda": ("fp32", "fp16")},
    "tensorrt": {"cuda": ("fp32", "fp16", "int8")},
}
"""Precisions each backend runs, per kind of device."""


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """The runtime, precision and device the detector will use, and why it differs from what was asked.

    Example:
        >>> choice = choose_backend("tensorrt", "auto", "cpu", installed={"openvino"})
        >>> choice.backend, choice.precision, choice.device
        ('openvino', 'fp32', 'cpu')
        >>> choice.fallbacks
        ('tensorrt needs a CUDA device; using openvino',)
    """

    backend: str
    precision: str
    device: str
    fallbacks: tuple[str, ...] = ()

    @property
    def exported(self) -> bool:
        """True when the weights must be exported (everything but PyTorch)."""
        return self.backend != "pytorch"



def installed_runtimes() -> set[str]:
    """The exported backends whose runtime module can be imported here."""
    return {backend for backend, module in RUNTIME_MODULES.items() if importlib.util.find_spec(module) is not None}


def resolve_device(device: str) -> str:
    """`auto` becomes `cuda:0` when a GPU is usable, else `cpu`; a bare index `N` becomes `cuda:N`.

    Example:
        >>> resolve_device("1"), resolve_device("cpu")
        ('cuda:1', 'cpu')
    """
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return f"cuda:{device}" if device.isdigit() else device


def _device_kind(device: str) -> str:
    return "cuda" if resolve_device(device).startswith("cuda") else "cpu"


def choose_backend(backend: Backend, precision: Precision, device: str, installed: Collection[str]) -> BackendChoice:
    """The best available runtime for the request; every substitution is named in `fallbacks`.

    `auto` is TensorRT fp16 on CUDA when TensorRT is importable, else PyTorch CUDA fp16; OpenVINO on CPU,
    else PyTorch. An unavailable backend falls back to what `auto` would pick; an unsupported precision
    to the device's default (fp16 on CUDA, fp32 on CPU). `installed` is what `installed_runtimes()` returns.

    Example:
        >>> choice = choose_backend("auto", "auto", "cuda:0", installed={"tensorrt"})
        >>> choice.backend, choice.precision, choice.device
        ('tensorrt', 'fp16', 'cuda:0')
        >>> choose_backend("onnx", "int8", "cpu", installed=set()).fallbacks
        ('onnx needs onnxruntime, which is not installed; using pytorch', 'pytorch cannot run int8 on cpu; using fp32')
    """
    kind = _device_kind(device)
    fallbacks: list[str] = []
    preferred = ("tensorrt", "pytorch") if kind == "cuda" else ("openvino", "pytorch")
    automatic = next(b for b in preferred if b == "pytorch" or b in installed)
    if backend == "auto":
        chosen = automatic
    elif backend == "tensorrt" and kind != "cuda":
        chosen = automatic
        fallbacks.append(f"tensorrt needs a CUDA device; using {chosen}")
    elif backend != "pytorch" and backend not in installed:
        chosen = automatic
        fallbacks.append(f"{backend} needs {RUNTIME_MODULES[backend]}, which is not installed; using {chosen}")
    elif backend == "openvino" and kind == "cuda":
        chosen, device = "openvino", "cpu"
        fallbacks.append("openvino runs on the CPU, not on the CUDA device")
    else:
        chosen = backend
    supported = _PRECISIONS[chosen][_device_kind(device)]
    default = "fp16" if "fp16" in supported and _device_kind(device) == "cuda" else "fp32"
    if precision == "auto":
        precision = default
    elif precision not in supported:
        fallbacks.append(f"{chosen} cannot run {precision} on {_device_kind(device)}; using {default}")
        precision = default
    return BackendChoice(chosen, precision, device, tuple(fallbacks))
