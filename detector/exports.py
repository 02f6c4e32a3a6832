"""Exported copies of a model for OpenVINO, ONNX Runtime or TensorRT, made once by Ultralytics' exporter.

    <cache>/<weights sha256[:16]>-<backend>-<precision>-<imgsz>-b<batch>/
        model_openvino_model/ | model.onnx | model.engine     what Ultralytics loads
        export.json                                           the spec, the source, the time it took, checks
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ULTRALYTICS_FORMATS = {"openvino": "openvino", "onnx": "onnx", "tensorrt": "engine"}
_MANIFEST = "export.json"


class ExportFailed(RuntimeError):
    """Ultralytics could not export the weights for the requested backend."""


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What an export is for; every field is part of the cache key.

    Example:
        >>> ExportSpec("openvino", "int8", imgsz=640, batch=4).key
        'openvino-int8-640-b4'
    """

    backend: str
    precision: str
    imgsz: int
    batch: int
    """The largest batch; exports take any batch size up to it (dynamic shapes)."""
    runtime: str = ""
    """What else the export is tied to, e.g. a TensorRT engine to the TensorRT version and the GPU."""

    @property
    def key(self) -> str:
        return f"{self.backend}-{self.precision}-{self.imgsz}-b{self.batch}" + (f"-{self.runtime}" if self.runtime else "")

    @property
    def quantize(self) -> int | None:
        return {"int8": 8, "fp16": 16}.get(self.precision)


def weights_digest(path: str | Path) -> str:
    """The first 16 hex digits of the file's SHA-256: exports follow the weights' content, not their name."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CachedExport:
    """A finished export: the path Ultralytics loads and the manifest written with it."""

    artifact: Path
    manifest: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.artifact.parent

    def record(self, **fields: Any) -> CachedExport:
        """Add `fields` to the manifest on disk (e.g. the INT8 agreement check) and return the updated export."""
        manifest = {**self.manifest, **fields}
        _write_json(self.folder / _MANIFEST, manifest)
        return CachedExport(self.artifact, manifest)


class ExportCache:
    """Exports under `root`, one folder per (weights content, spec); a folder appears complete or not at all.

    Concurrent starts of the same export (two processes) wait on a file lock and the second reuses the first's.

    Example:
        >>> cache = ExportCache("data/models/exports")  # doctest: +SKIP
        >>> cache.get_or_export("weights.pt", ExportSpec("openvino", "fp32", 640, 4)).artifact  # doctest: +SKIP
        PosixPath('data/models/exports/3f2a9c1e0b7d4a61-openvino-fp32-640-b4/model_openvino_model')
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def folder(self, weights: str | Path, spec: ExportSpec) -> Path:
        return self.root / f"{weights_digest(weights)}-{spec.key}"

    def cached(self, weights: str | Path, spec: ExportSpec) -> CachedExport | None:
        """The finished export of `weights` for `spec`, or None."""
        return _read_export(self.folder(weights, spec))

    def get_or_export(
        self, weights: str | Path, spec: ExportSpec, *, calibration: Path | None = None, device: str = "cpu"
    ) -> CachedExport:
        """The cached export, made now when missing; INT8 needs `calibration` (an Ultralytics dataset YAML)."""
        folder = self.folder(weights, spec)
        if (found := _read_export(folder)) is not None:
            return found
        with self._locked(folder.name):
            if (found := _read_export(folder)) is not None:
                return found
            return self._export(Path(weights), spec, folder, calibration, device)

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _export(self, weights: Path, spec: ExportSpec, folder: Path, calibration: Path | None, device: str) -> CachedExport:
        from ultralytics import YOLO

        if spec.precision == "int8" and calibration is None:
            raise ExportFailed(f"{spec.key}: INT8 needs calibration frames")
        staging = self.root / f".{folder.name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        source = staging / "model.pt"
        shutil.copyfile(weights, source)  # Ultralytics writes the export beside the weights it reads
        log.info("exporting %s for %s (once; cached in %s)", weights.name, spec.key, folder)
        started = time.monotonic()
        try:
            with _quiet_ultralytics():
                artifact = YOLO(str(source), task="detect").export(
                    format=ULTRALYTICS_FORMATS[spec.backend],
                    imgsz=spec.imgsz,
                    batch=spec.batch,
                    dynamic=True,
                    quantize=spec.quantize,
                    data=str(calibration) if calibration else None,
                    fraction=1.0,
                    device=device,
        )
        except Exception as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise ExportFailed(f"exporting {weights} for {spec.key} failed: {error}") from error
        source.unlink()
        manifest = {
            **asdict(spec),
            "artifact": Path(artifact).name,
            "weights": str(weights),
            "weights_sha256_16": folder.name.split("-", 1)[0],
            "export_s": round(time.monotonic() - started, 1),
        }
        _write_json(staging / _MANIFEST, manifest)
        shutil.rmtree(folder, ignore_errors=True)  # an unreadable or emptied earlier export of the same key
        os.replace(staging, folder)
        log.info("exported %s for %s in %.0f s", weights.name, spec.key, manifest["export_s"])
        return CachedExport(folder / manifest["artifact"], manifest)


@contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Ultralytics' exporter logs a page of lines (with the staging paths); ours say what happens instead."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def _read_export(folder: Path) -> CachedExport | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    artifact = folder / manifest["artifact"]
    return CachedExport(artifact, manifest) if artifact.exists() else None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value, indent=1))
    os.replace(temporary, path)
