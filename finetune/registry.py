"""The model registry: versions with their metrics and lineage, the live pointer, promote and rollback.

    data/models/
        v0001/weights.pt, v0001/meta.json, v0001/exports/   (OpenVINO/ONNX/TensorRT exports)
        exports/      exports of `base`

`base` is the model named by `detector.model` in the config. The live pointer, the versions it replaced and
the log of promotions and rollbacks are rows in the site's database (`live_model`, `model_promotions`), so every
process and every machine of a cluster reads and changes one pointer: each change is one transaction that holds
the pointer row's lock. A folder's `live.json` from before is taken into the database once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from alerts.tables import LIVE_MODEL_ROW, LiveModelRow, ModelPromotionRow

log = logging.getLogger(__name__)

BASE_VERSION = "base"
_VERSION = re.compile(r"v(\d{4,})")
_FOLDER_STATE = "live.json"
"""Where the live pointer was kept before it moved into the database."""


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
    """Versions under `root`, the live pointer in `engine`'s database; `base_model` is what version `base` stands
    for.

    Example:
        >>> registry = ModelRegistry("data/models", "default", store.engine)  # doctest: +SKIP
        >>> registry.promote("v0002"); registry.rollback()  # doctest: +SKIP
    """

    def __init__(self, root: str | Path, base_model: str, engine: Engine) -> None:
        self.root = Path(root)
        self.base = ModelVersion(BASE_VERSION, base_model)
        self._engine = engine
        self._take_in_folder_state()

    @contextmanager
    def _locked(self) -> Iterator[tuple[Session, LiveModelRow]]:
        """One transaction holding the pointer row's write lock: one change at a time, from any machine."""
        with Session(self._engine) as session, session.begin():
            # An update first: SQLite then holds its write lock, PostgreSQL the row's, before anything is read.
            session.execute(update(LiveModelRow).where(LiveModelRow.id == LIVE_MODEL_ROW)
                            .values(live=LiveModelRow.live))
            yield session, session.get_one(LiveModelRow, LIVE_MODEL_ROW)

    def _pointer(self) -> tuple[str, list[str]]:
        with Session(self._engine) as session:
            row = session.get_one(LiveModelRow, LIVE_MODEL_ROW)
            return row.live, list(row.previous)

    def _take_in_folder_state(self) -> None:
        """A `live.json` the folder kept before becomes the database's pointer and log, if those are untouched."""
        path = self.root / _FOLDER_STATE
        if not path.is_file():
            return
        with self._locked() as (session, row):
            if not path.is_file():  # another process took it in while this one waited for the lock
                return
            state = json.loads(path.read_text())
            untouched = row.live == BASE_VERSION and not session.scalar(select(func.count(ModelPromotionRow.id)))
            if untouched:
                row.live, row.previous = state["live"], list(state["previous"])
                session.add_all(_promotion_row(entry) for entry in state.get("log", []))
            live = row.live
        kept = path.with_name(f"{_FOLDER_STATE}.imported")
        try:  # after the commit: a failed one leaves the file where it was, to be taken in next time
            os.replace(path, kept)
        except FileNotFoundError:  # another process set it aside just after this one committed
            pass
        if untouched:
            log.info("model registry: the live pointer (%s) moved from %s into the database", live, kept)
        else:
            log.warning("model registry: %s was left aside; the database already has a live pointer (%s)", kept, live)

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
        version, _ = self._pointer()
        try:
            return self.get(version)
        except RegistryError:
            raise RegistryError(
                f"the live model {version} is missing from {self.root}: "
                "`vigil finetune rollback` or `vigil finetune promote base` picks another"
            ) from None

    def rollback_target(self) -> str | None:
        """The version `rollback` would make live, if any."""
        _, previous = self._pointer()
        return previous[-1] if previous else None

    def history(self) -> list[dict[str, Any]]:
        """Promotions and rollbacks, oldest first."""
        with Session(self._engine) as session:
            rows = session.scalars(select(ModelPromotionRow).order_by(ModelPromotionRow.id))
            return [{"at": row.at.isoformat(timespec="seconds"), "action": row.action, "from": row.from_version,
                     "to": row.to_version, "reason": row.reason} for row in rows]

    def add(self, weights: Path, **meta: Any) -> ModelVersion:
        """Register trained weights as the next version (not live); the folder appears complete or not at all."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:  # copied before the lock: the database's writers wait only for the number and the rename
            shutil.copyfile(weights, staging / "weights.pt")
            record = {**meta, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            (staging / "meta.json").write_text(json.dumps(record, indent=1))
            with self._locked():
                numbers = [int(p.name[1:]) for p in self.root.glob("v*") if _VERSION.fullmatch(p.name)]
                version = f"v{max(numbers, default=0) + 1:04d}"
                os.replace(staging, self.root / version)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.get(version)

    def promote(self, version: str, reason: str = "") -> Promotion:
        """Make `version` live; the one it replaces is remembered for rollback."""
        self.get(version)
        with self._locked() as (session, row):
            previous = row.live
            if previous == version:
                raise RegistryError(f"{version} is already live")
            row.previous, row.live = [*row.previous, previous], version
            session.add(_change("promote", previous, version, reason))
        return Promotion(previous, version)

    def rollback(self, reason: str = "") -> Promotion:
        """Make the previously live version live again."""
        with self._locked() as (session, row):
            if not row.previous:
                raise RegistryError(f"nothing to roll back to: {row.live} is the first live model")
            change = Promotion(row.live, row.previous[-1])
            row.live, row.previous = change.live, row.previous[:-1]
            session.add(_change("rollback", change.previous, change.live, reason))
        return change


def _change(action: str, before: str, after: str, reason: str) -> ModelPromotionRow:
    return ModelPromotionRow(at=datetime.now(UTC), action=action, from_version=before, to_version=after,
                             reason=reason)


def _promotion_row(entry: dict[str, str]) -> ModelPromotionRow:
    """A log entry of a folder's `live.json`."""
    return ModelPromotionRow(at=datetime.fromisoformat(entry["at"]), action=entry["action"],
                             from_version=entry["from"], to_version=entry["to"], reason=entry.get("reason", ""))
