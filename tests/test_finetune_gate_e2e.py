"""Fine-tuning from one short labelled clip with the default gate, on the real model on CPU: a candidate that
learnt the new class and kept people goes live; one trained with people left as background never does; the
kept epoch is the best one on the new class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from ultralytics.utils.patches import torch_load

from alerts import AlertStore
from bench.site_scene import PACKAGE_CLASS, package_scene, write_labelled_clip
from finetune.dataset import SiteDataset
from finetune.importers import import_cvat_video
from finetune.jobs import TAUGHT_AP50
from finetune.registry import ModelRegistry
from finetune.training_job import live_model_labeler, run_training_job
from vigil.config import VigilConfig
from vigil.finetune_service import job_spec
from vigil.stores import site_registry

pytestmark = pytest.mark.slow
EPOCHS = 3


class _Quiet:
    def stage(self, name: str, message: str = "") -> None: ...

    def fraction(self, name: str, done: int, total: int) -> None: ...

    def batch_done(self, progress) -> None: ...

    def epoch_done(self, record) -> None: ...


@dataclass(frozen=True)
class Trained:
    result: dict
    registry: ModelRegistry


def _config(folder: Path) -> VigilConfig:
    """Defaults everywhere (gate included) but sizes small enough for a test on two cores."""
    return VigilConfig.model_validate({
        "cameras": {"lobby": {"url": str(folder / "clip.mp4")}},
        "detector": {"imgsz": 416, "device": "cpu"},
        "storage": {"database": str(folder / "vigil.db"), "media_dir": str(folder / "media")},
        "finetune": {"datasets_dir": str(folder / "datasets"), "models_dir": str(folder / "models"),
                     "runs_dir": str(folder / "runs"), "epochs": EPOCHS, "imgsz": 416, "device": "cpu", "guard_s": 1,
                     "warmup_epochs": 1},  # of 3 epochs, not 2: a test-sized run still learns
    })


def _train(folder: Path, clip: tuple[Path, Path], *, people_labelled: bool) -> Trained:
    config = _config(folder)
    spec = job_spec(config, "site", promote=True, feedback=False)
    labeler = live_model_labeler(spec, config.detector.model)
    dataset = SiteDataset.open_or_create(config.finetune.datasets_dir, "site", labeler.detector.class_names)
    import_cvat_video(dataset, *clip, add_classes=[PACKAGE_CLASS], labeler=labeler if people_labelled else None,
                      max_bytes=1 << 30)
    result = run_training_job(spec, 1, _Quiet(), config.storage.database)
    return Trained(result, site_registry(config, AlertStore(config.storage.database)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, sample_video) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clip")
    frames = list(package_scene(sample_video, every=5, start_s=0, end_s=20, seed=3))
    write_labelled_clip(frames, folder / "clip.mp4", folder / "clip.xml", fps=2)
    return folder / "clip.mp4", folder / "clip.xml"


@pytest.fixture(scope="module")
def learnt(tmp_path_factory, clip) -> Trained:
    return _train(tmp_path_factory.mktemp("learnt"), clip, people_labelled=True)


@pytest.fixture(scope="module")
def forgot(tmp_path_factory, clip) -> Trained:
    return _train(tmp_path_factory.mktemp("forgot"), clip, people_labelled=False)


def test_one_short_clip_gives_a_promoted_model_with_the_default_gate(learnt: Trained) -> None:
    result = learnt.result
    assert result["promoted"], result["gate"]
    assert learnt.registry.live().version == result["version"]
    reasons = result["gate"]["reasons"]
    assert any(r.startswith(f"{PACKAGE_CLASS}: ap50 0.000 → ") and r.endswith("(better)") for r in reasons), reasons
    assert any(r.startswith("person: recall of the live model's boxes") and r.endswith("(kept)") for r in reasons)
    split = result["training"]
    assert split["split_method"] == "windows" and abs(split["val_frames"] / (split["val_frames"] + split["train_frames"]) - 0.2) <= 0.1


def test_the_kept_epoch_is_the_best_on_the_new_class_not_on_all_classes(learnt: Trained) -> None:
    version = learnt.registry.get(learnt.result["version"])
    taught = [epoch["metrics"][TAUGHT_AP50] for epoch in version.training["history"]]
    assert len(taught) == EPOCHS
    best = max(range(EPOCHS), key=lambda i: (taught[i], i))
    assert version.training["kept_epoch"] == best + 1, taught
    assert taught[best] >= 0.5, "the new class is learnt"
    saved = torch_load(version.weights, map_location="cpu")["train_metrics"]
    assert saved[TAUGHT_AP50] == pytest.approx(taught[best]), "the promoted weights are the kept epoch's"
    assert saved["fitness"] == pytest.approx(taught[best]), "Ultralytics kept best.pt on the taught classes' AP50"


def test_a_candidate_trained_with_people_as_background_is_refused(forgot: Trained) -> None:
    result = forgot.result
    assert not result["promoted"] and forgot.registry.live().version == "base"
    [person] = [r for r in result["gate"]["reasons"] if r.startswith("person:")]
    assert person.startswith("person: recall of the live model's boxes") and "lost more than 0.05" in person, person
    candidate = next(e for e in result["evaluations"] if e["model"] == result["version"])
    assert candidate["classes"]["person"]["pseudo_labelled"], "held-out people came from the live model at eval time"
