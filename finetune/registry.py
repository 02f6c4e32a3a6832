"""The model registry: versions with their metrics and lineage, the live pointer, promote and rollback.

    data/models/
        v0001/weights.pt, v0001/meta.json, v0001/exports/   (OpenVINO/ONNX/TensorRT exports)
        exports/      exports of `base`
        live.json     {"live": "v0002", "previous": ["base", "v0001"], "log": [...]}

`base` is the model named by `detector.model` in the config. Promotion and
rollback rewrite live.json atomically (write, fsync, rename) under a file lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_VERSION = "base"
_VERSION = re.compile(r"v(\d{4,})")


class RegistryError(ValueError):
    """A version is unknown, or a promotion or rollback is impossible."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    version: str
    weights: str
    """A path, or for `base` whatever `detector.model` names."""
    parent: str | None = None
    created_at: str | None = None
    dataset: str | None = None
    dataset_hash: str | None = None
    classes: list[str] = field(default_factory=list)
    evaluation: dict[str, Any] = field(default_factory=dict)
    """Candidate and parent rows on the same held-out split, and the gate's decision."""
    training: dict[str, Any] = field(default_factory=dict)
    """Hyper-parameters, split, epochs run, wall time."""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Promotion:
    previous: str
    live: str


class ModelRegistry:
    """Versions under `root`; `base_model` is the configured model that version `base` stands for.

    Example:
        >>> registry = ModelRegistry("data/models", base_model="default")  # doctest: +SKIP
        >>> registry.promote("v0002"); registry.rollback()  # doctest: +SKIP
    """

    def __init__(self, root: str | Path, base_model: str) -> None:
        self.root = Path(root)
        self.base = ModelVersion(BASE_VERSION, base_model)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _state(self) -> dict[str, Any]:
        path = self.root / "live.json"
        if not path.is_file():
            return {"live": BASE_VERSION, "previous": [], "log": []}
        return json.loads(path.read_text())

    def _write_state(self, state: dict[str, Any]) -> None:
        temporary = self.root / "live.json.tmp"
        with open(temporary, "w") as file:
            json.dump(state, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.root / "live.json")

    def exports_dir(self, version: ModelVersion) -> Path:
        """Where backend exports of `version` are cached: inside its folder; `exports/` for base."""
        return self.root / "exports" if version.version == BASE_VERSION else self.root / version.version / "exports"

    def versions(self) -> list[ModelVersion]:
        """`base` first, then every registered version, oldest first."""
        found = sorted(
            (p for p in self.root.glob("v*/meta.json") if _VERSION.fullmatch(p.parent.name)),
            key=lambda p: int(p.parent.name[1:]),
        ) if self.root.is_dir() else []
        return [self.base, *(self._read(p.parent.name) for p in found)]

    def _read(self, version: str) -> ModelVersion:
        meta = json.loads((self.root / version / "meta.json").read_text())
        return ModelVersion(**{**meta, "version": version, "weights": str(self.root / version / "weights.pt")})

    def get(self, version: str) -> ModelVersion:
        if version == BASE_VERSION:
            return self.base
        if not _VERSION.fullmatch(version) or not (self.root / version / "meta.json").is_file():
            known = ", ".join(v.version for v in self.versions())
            raise RegistryError(f"unknown model version {version!r}; versions: {known}")
        return self._read(version)

    def live(self) -> ModelVersion:
        """The version the pipeline should run; RegistryError if its folder has gone."""
        version = self._state()["live"]
        try:
            return self.get(version)
        except RegistryError:
            raise RegistryError(
                f"the live model {version} is missing from {self.root}: "
                "`vigil finetune rollback` or `vigil finetune promote base` picks another"
            ) from None

    def rollback_target(self) -> str | None:
        """The version `rollback` would make live, if any."""
        previous = self._state()["previous"]
        return previous[-1] if previous else None

    def history(self) -> list[dict[str, Any]]:
        """Promotions and rollbacks, oldest first."""
        return list(self._state()["log"])

    def add(self, weights: Path, **meta: Any) -> ModelVersion:
        """Register trained weights as the next version (not live); the folder appears complete or not at all."""
        with self._locked():
            numbers = [int(p.name[1:]) for p in self.root.glob("v*") if _VERSION.fullmatch(p.name)]
            version = f"v{max(numbers, default=0) + 1:04d}"
            staging = self.root / f".{version}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            shutil.copyfile(weights, staging / "weights.pt")
            record = {**meta, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            (staging / "meta.json").write_text(json.dumps(record, indent=1))
            os.replace(staging, self.root / version)
        return self.get(version)

    def promote(self, version: str, reason: str = "") -> Promotion:
        """Make `version` live; the one it replaces is remembered for rollback."""
        self.get(version)
        with self._locked():
            state = self._state()
            previous = state["live"]
            if previous == version:
                raise RegistryError(f"{version} is already live")
            state["previous"].append(previous)
            state["live"] = version
            state["log"].append(_log_entry("promote", previous, version, reason))
            self._write_state(state)
        return Promotion(previous, version)

    def rollback(self, reason: str = "") -> Promotion:
        """Make the previously live version live again."""
        with self._locked():
            state = self._state()
            if not state["previous"]:
                raise RegistryError(f"nothing to roll back to: {state['live']} is the first live model")
            previous = state["live"]
            state["live"] = state["previous"].pop()
            state["log"].append(_log_entry("rollback", previous, state["live"], reason))
            self._write_state(state)
        return Promotion(previous, state["live"])


def _log_entry(action: str, before: str, after: str, reason: str) -> dict[str, str]:
    return {"at": datetime.now(UTC).isoformat(timespec="seconds"), "action": action, "from": before, "to": after, "reason": reason}
