"""Fine-tuning as configured: job specs from the config's `finetune:` section, and the service the CLI, the
dashboard and the schedule start jobs through."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from alerts import AlertStore
from finetune.dataset import SiteDataset, check_dataset_name, dataset_names
from finetune.jobs import ChildProcessLauncher, JobLauncher, JobRunner, JobStore
from finetune.training import TrainingParams
from finetune.training_job import FeedbackSettings, GateSettings, JobSpec, PseudoLabelSettings
from vigil.config import VigilConfig
from vigil.dataset_uploads import DatasetUploads
from vigil.stores import site_registry


def job_spec(config: VigilConfig, dataset: str, *, promote: bool, feedback: bool, **params: Any) -> JobSpec:
    """The spec of a job on `dataset` from the config's defaults; `params` overrides training parameters."""
    finetune = config.finetune
    defaults = TrainingParams(
        epochs=finetune.epochs, imgsz=finetune.imgsz, batch=finetune.batch, freeze=finetune.freeze,
        lr0=finetune.lr0, warmup_epochs=finetune.warmup_epochs, optimizer=finetune.optimizer, patience=finetune.patience, seed=finetune.seed,
        device=finetune.device, time_budget_min=finetune.time_budget_min,
    )
    training = replace(defaults, **{k: v for k, v in params.items() if v is not None})
    pseudo = finetune.pseudo_labels
    return JobSpec(
        dataset=dataset,
        datasets_dir=finetune.datasets_dir,
        models_dir=finetune.models_dir,
        runs_dir=finetune.runs_dir,
        base_model=config.detector.model,
        labels=dict(config.detector.labels),
        params=training,
        val_fraction=finetune.val_fraction,
        guard_s=finetune.guard_s,
        max_background_share=finetune.max_background_share,
        operating_conf=config.detector.conf,
        eval_imgsz=config.detector.imgsz,
        pseudo_labels=PseudoLabelSettings(pseudo.min_score, dict(pseudo.class_min_score)),
        agnostic_nms=config.detector.agnostic_nms,
        gate=GateSettings(finetune.gate.metric, finetune.gate.min_gain, finetune.gate.max_old_class_drop),
        promote=promote,
        feedback=FeedbackSettings(config.storage.media_dir) if feedback else None,
    )


class SiteFinetuning:
    """The site's datasets, model registry and fine-tuning jobs, as the config places them.

    Example:
        >>> finetuning = SiteFinetuning(config, store)  # doctest: +SKIP
        >>> job_id = finetuning.start("site", feedback=True, requested_by="admin")  # doctest: +SKIP
    """

    def __init__(self, config: VigilConfig, store: AlertStore, launcher: JobLauncher | None = None) -> None:
        self.config = config
        self.registry = site_registry(config, store)
        self.jobs = JobStore(store.engine)
        self.runner = JobRunner(self.jobs, launcher or ChildProcessLauncher(config.storage.database))
        """Jobs run in a child process, or where `launcher` puts them (a Ray task on a cluster)."""
        self._uploads: DatasetUploads | None = None

    def datasets(self) -> list[dict[str, Any]]:
        """A summary of each dataset (samples, clips, boxes per class)."""
        root = Path(self.config.finetune.datasets_dir)
        return [SiteDataset(root / name).summary() for name in dataset_names(root)]

    def start(self, dataset: str, *, feedback: bool, requested_by: str, promote: bool = True, **params: Any) -> int:
        """Start a job; raises JobBusy while one runs, DatasetError for an unknown dataset."""
        check_dataset_name(dataset)
        if not feedback:
            SiteDataset.open(self.config.finetune.datasets_dir, dataset)
        spec = job_spec(self.config, dataset, promote=promote, feedback=feedback, **params)
        return self.runner.start(dataset, spec.to_dict(), requested_by, Path(self.config.finetune.runs_dir))

    def cancel(self, job_id: int, actor: str) -> None:
        self.runner.cancel(job_id, actor)

    def uploads(self, config_path: Path) -> DatasetUploads:
        """Imports of data uploaded on the dashboard, run as `vigil finetune import -c config_path` (made once)."""
        if self._uploads is None:
            self._uploads = DatasetUploads(config_path, Path(self.config.finetune.runs_dir) / "uploads",
                                           int(self.config.finetune.max_upload_mb * 1024 * 1024))
        return self._uploads

    def stop(self) -> None:
        """Cancel jobs and imports this process started (at shutdown of `vigil run`)."""
        self.runner.stop()
        if self._uploads is not None:
            self._uploads.stop()
