"""The model registry on SQLite and PostgreSQL: versions in the folder, the live pointer and its log in the database,
shared by every process (and every machine of a cluster) that opens it; a folder's old `live.json` moves in once."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from alerts import AlertStore
from finetune.registry import BASE_VERSION, ModelRegistry, RegistryError


@pytest.fixture
def stores(database: str):
    """Two stores on one database, as two processes (or two machines) have."""
    opened = [AlertStore(database), AlertStore(database)]
    yield opened
    for store in opened:
        store.close()


def _weights(folder: Path) -> Path:
    path = folder / "best.pt"
    path.write_bytes(b"weights")
    return path


def test_registry_promotes_rolls_back_and_keeps_history(tmp_path, stores) -> None:
    registry = ModelRegistry(tmp_path / "models", "default", stores[0].engine)
    elsewhere = ModelRegistry(tmp_path / "models", "default", stores[1].engine)
    assert registry.live().version == BASE_VERSION and registry.live().weights == "default"
    first = registry.add(_weights(tmp_path), parent="base", dataset="site", classes=["person", "package"])
    second = registry.add(_weights(tmp_path), parent=first.version, dataset="site")
    assert (first.version, second.version) == ("v0001", "v0002")
    assert (tmp_path / "models" / "v0001" / "weights.pt").read_bytes() == b"weights"
    assert registry.get("v0001").classes == ["person", "package"] and registry.get("v0001").created_at
    assert registry.live().version == "base", "registering is not promoting"
    assert registry.rollback_target() is None
    registry.promote("v0001", "test")
    elsewhere.promote("v0002", "test")
    assert registry.live().version == "v0002" and registry.rollback_target() == "v0001", "one pointer for both"
    assert elsewhere.rollback("test").live == "v0001"
    assert registry.rollback("test").live == "base"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    with pytest.raises(RegistryError, match="unknown model version 'v0009'"):
        registry.promote("v0009")
    with pytest.raises(RegistryError, match="already live"):
        registry.promote("base")
    assert [(e["action"], e["from"], e["to"], e["reason"]) for e in elsewhere.history()] == [
        ("promote", "base", "v0001", "test"), ("promote", "v0001", "v0002", "test"),
        ("rollback", "v0002", "v0001", "test"), ("rollback", "v0001", "base", "test"),
    ]
    assert not (tmp_path / "models" / "live.json").exists() and not list((tmp_path / "models").glob("*.tmp"))
    registry.promote("v0002")
    shutil.rmtree(tmp_path / "models" / "v0002")
    with pytest.raises(RegistryError, match="live model v0002 is missing .* `vigil finetune rollback`"):
        elsewhere.live()


def test_versions_added_at_once_from_two_processes_get_distinct_numbers(tmp_path, stores) -> None:
    registries = [ModelRegistry(tmp_path / "models", "default", store.engine) for store in stores]
    weights = _weights(tmp_path)
    added: list[str] = []
    failures: list[BaseException] = []

    def add_five(registry: ModelRegistry) -> None:
        try:
            added.extend(registry.add(weights).version for _ in range(5))
        except BaseException as error:  # shown by the assertion below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=add_five, args=(registry,)) for registry in registries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(added) == [f"v{n:04d}" for n in range(1, 11)]


def test_a_folders_live_json_moves_into_the_database_once(tmp_path, stores) -> None:
    models = tmp_path / "models"
    (models / "v0001").mkdir(parents=True)
    (models / "v0001" / "meta.json").write_text(json.dumps({"parent": "base"}))
    (models / "v0001" / "weights.pt").write_bytes(b"weights")
    log = [{"at": "2026-11-30T10:00:00+00:00", "action": "promote", "from": "base", "to": "v0001", "reason": "job 1"}]
    (models / "live.json").write_text(json.dumps({"live": "v0001", "previous": ["base"], "log": log}))

    registry = ModelRegistry(models, "default", stores[0].engine)
    assert registry.live().version == "v0001" and registry.rollback_target() == "base"
    assert registry.history() == log
    assert not (models / "live.json").exists() and (models / "live.json.imported").is_file()
    registry.rollback("after the move")
    assert ModelRegistry(models, "default", stores[1].engine).live().version == "base", "taken in once, not again"


def test_a_stale_live_json_never_overrides_the_databases_pointer(tmp_path, stores, caplog) -> None:
    models = tmp_path / "models"
    registry = ModelRegistry(models, "default", stores[0].engine)
    registry.promote(registry.add(_weights(tmp_path)).version)
    (models / "live.json").write_text(json.dumps({"live": "base", "previous": [], "log": []}))
    assert ModelRegistry(models, "default", stores[1].engine).live().version == "v0001"
    assert "was left aside; the database already has a live pointer (v0001)" in caplog.text
