"""The `vigil finetune` commands: import, feedback, train, datasets, models, promote, rollback."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vigil.config import ConfigError, VigilConfig, load_config, report_problems

EXIT_FAILED = 1
EXIT_NOT_PROMOTED = 3
"""`train --promote-if-better` ran, but the gate kept the live model."""
_POLL_S = 0.5
FORMATS = ("cvat-video", "yolo", "coco", "spans")
_NEEDS = {
    "cvat-video": ("video", "annotations"),
    "yolo": ("path",),
    "coco": ("images", "annotations"),
    "spans": ("video", "spans"),
}


def _with_config(handler: Callable[[argparse.Namespace, VigilConfig], int]) -> Callable[[argparse.Namespace], int]:
    """Run `handler` with the config `-c` names; a bad config is reported (exit 2) and the handler not run."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config(args.config)
        except ConfigError as error:
            return report_problems(args.config, error.problems)
        return handler(args, config)

    return run


def _fail(message: str) -> int:
    print(f"vigil finetune: {message}", file=sys.stderr)
    return EXIT_FAILED


def _labeler(config: VigilConfig):
    """The live model as the pseudo-labeller of imports and feedback, at the pipeline's input size."""
    from finetune.pseudo_labels import PseudoLabeler
    from vigil.stores import open_store, site_registry

    pseudo = config.finetune.pseudo_labels
    with closing(open_store(config)) as store:
        weights = site_registry(config, store).live().weights
    return PseudoLabeler.from_weights(
        weights,
        imgsz=config.detector.imgsz, device=config.detector.device, labels=config.detector.labels,
        min_score=pseudo.min_score, class_min_score=pseudo.class_min_score,
    )


def _import(args: argparse.Namespace, config: VigilConfig) -> int:
    from finetune import importers
    from finetune.dataset import DatasetError, SiteDataset

    missing = [f"--{name}" for name in _NEEDS[args.format] if getattr(args, name) is None]
    if missing:
        return _fail(f"--format {args.format} needs {' and '.join(missing)}")
    try:
        labeler = _labeler(config)
        dataset = SiteDataset.open_or_create(config.finetune.datasets_dir, args.dataset, labeler.detector.class_names)
        common: dict[str, Any] = {
            "aliases": dict(config.detector.labels), "add_classes": args.add_class, "labeler": labeler,
            "max_bytes": int(config.finetune.max_upload_mb * 1024 * 1024),
        }
        with tqdm(desc=f"importing into {args.dataset}", unit="frame", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total or None
                bar.update(done - bar.n)
                if args.progress_file is not None:
                    args.progress_file.write_text(f"{done} {total}")

            common["progress"] = progress
            if args.format == "cvat-video":
                summary = importers.import_cvat_video(dataset, args.video, args.annotations, every=args.every, **common)
            elif args.format == "yolo":
                summary = importers.import_yolo(dataset, args.path, **common)
            elif args.format == "coco":
                summary = importers.import_coco(dataset, args.images, args.annotations, **common)
            else:
                summary = importers.import_spans(dataset, args.video, args.spans, every=args.every, **common)
    except DatasetError as error:
        if args.json:
            print(json.dumps({"error": str(error)}))
        return _fail(f"nothing imported: {error}")
    if args.json:
        print(json.dumps({"dataset": args.dataset, **dataclasses.asdict(summary)}))
        return 0
    print(
        f"imported {summary.samples} frame(s) into {args.dataset} ({dataset.folder}): "
        f"labels {summary.labels or 'none'}, pseudo-labels {summary.pseudo_labels or 'none'}, "
        f"{summary.backgrounds} without any box"
    )
    return 0


def _feedback(args: argparse.Namespace, config: VigilConfig) -> int:
    from vigil.stores import open_store
    from finetune.dataset import DatasetError, SiteDataset
    from finetune.feedback import import_feedback

    store = open_store(config)
    try:
        labeler = _labeler(config)
        dataset = SiteDataset.open_or_create(config.finetune.datasets_dir, args.dataset, labeler.detector.class_names)
        summary = import_feedback(store, dataset, labeler)
    except DatasetError as error:
        return _fail(f"nothing imported: {error}")
    finally:
        store.close()
    print(
        f"feedback into {args.dataset}: {summary.confirmed} confirmed alert(s) as labelled frames, "
        f"{summary.false_positives} false positive(s) as hard negatives; {summary.already_imported} already in, "
        f"{summary.without_frame} without a stored frame"
    )
    return 0


def _train(args: argparse.Namespace, config: VigilConfig) -> int:
    from vigil.stores import open_store
    from finetune.dataset import DatasetError
    from finetune.evaluation import comparison_table
    from finetune.jobs import JobBusy, JobStatus
    from finetune.training_job import evaluations_of
    from vigil.finetune_service import SiteFinetuning

    store = open_store(config)
    finetuning = SiteFinetuning(config, store)
    params = {name: getattr(args, name) for name in
              ("epochs", "imgsz", "batch", "freeze", "lr0", "optimizer", "patience", "time_budget_min", "seed")}
    try:
        job_id = finetuning.start(
            args.dataset, feedback=args.feedback, requested_by="cli", promote=args.promote_if_better, **params
        )
    except (DatasetError, JobBusy) as error:
        store.close()
        return _fail(str(error))
    try:
        job = _follow(finetuning, job_id, quiet=args.json)
    except KeyboardInterrupt:
        finetuning.cancel(job_id, "cli (interrupted)")
        store.close()
        return _fail(f"job {job_id} cancelled")
    store.close()
    if args.json:
        print(json.dumps(job.to_dict(), indent=1))
    if job.status != JobStatus.SUCCEEDED:
        log_file = Path(config.finetune.runs_dir) / f"job-{job_id}.log"
        return _fail(f"job {job_id} {job.status}: {job.error} (log: {log_file})")
    result = job.result
    if not args.json:
        print(comparison_table(evaluations_of(result)))
        gate = result["gate"]
        print(f"\ngate on {gate['metric']}: {'passed' if gate['passed'] else 'not passed'}")
        for reason in gate["reasons"]:
            print(f"  {reason}")
        outcome = "promoted: now live" if result["promoted"] else "registered, not live"
        print(f"\ncandidate {result['version']} (from {result['parent']}): {outcome}")
    if args.promote_if_better and not result["promoted"]:
        return EXIT_NOT_PROMOTED
    return 0


def _follow(finetuning, job_id: int, quiet: bool):
    """Show the job's progress until its process exits; returns the finished job."""
    bar = tqdm(total=None, desc="starting", unit="step", file=sys.stderr, disable=quiet)
    stage = None
    while finetuning.runner.wait(job_id, timeout=_POLL_S) is None:
        progress = finetuning.jobs.get(job_id).progress
        if progress.get("stage") != stage or (progress.get("total") and bar.total != progress["total"]):
            stage = progress.get("stage")
            bar.reset(total=progress.get("total"))
            bar.set_description(str(stage))
            bar.set_postfix_str(progress.get("message", ""))
        if progress.get("done") is not None:
            bar.update(progress["done"] - bar.n)
        if stage == "training" and progress.get("epoch"):
            losses = " ".join(f"{k.removesuffix('_loss')} {v:.3f}" for k, v in (progress.get("losses") or {}).items())
            eta = progress.get("eta_s")
            left = "" if eta is None else f" ETA {int(eta) // 60}:{int(eta) % 60:02d}"
            bar.set_postfix_str(f"epoch {progress['epoch']}/{progress['epochs']}{left} {losses}")
    bar.close()
    finetuning.jobs.reap_dead()
    return finetuning.jobs.get(job_id)


def _datasets(args: argparse.Namespace, config: VigilConfig) -> int:
    from vigil.stores import open_store
    from vigil.finetune_service import SiteFinetuning

    store = open_store(config)
    summaries = SiteFinetuning(config, store).datasets()
    store.close()
    if args.json:
        print(json.dumps(summaries, indent=1))
        return 0
    print(f"{'dataset':<20} {'frames':>6} {'clips':>5} {'empty':>5}  labels (pseudo-labels)")
    for summary in summaries:
        counts = ", ".join(
            f"{name} {summary['labels'].get(name, 0)} ({summary['pseudo_labels'].get(name, 0)})"
            for name in summary["classes"]
        )
        print(f"{summary['name']:<20} {summary['samples']:>6} {summary['clips']:>5} {summary['backgrounds']:>5}  {counts}")
    return 0


def _models(args: argparse.Namespace, config: VigilConfig) -> int:
    from vigil.stores import open_store, site_registry

    with closing(open_store(config)) as store:
        registry = site_registry(config, store)
        live, versions, history = registry.live().version, registry.versions(), registry.history()
    if args.json:
        print(json.dumps({"live": live, "versions": [v.to_dict() for v in versions], "history": history}, indent=1))
        return 0
    print(f"{'':2}{'version':<8} {'parent':<8} {'created':<26} {'dataset':<16} {'gate':<8} classes")
    for version in versions:
        gate = version.evaluation.get("gate", {})
        verdict = "" if not gate else ("passed" if gate.get("passed") else "failed")
        print(
            f"{'*' if version.version == live else ' ':2}{version.version:<8} {version.parent or '':<8} "
            f"{version.created_at or '':<26} {version.dataset or '':<16} {verdict:<8} "
            f"{', '.join(version.classes) or version.weights}"
        )
    return 0


def _promote(args: argparse.Namespace, config: VigilConfig) -> int:
    from finetune.registry import RegistryError
    from vigil.stores import open_store, site_registry

    with closing(open_store(config)) as store:
        registry = site_registry(config, store)
        try:
            change = registry.rollback("cli") if args.version is None else registry.promote(args.version, "cli")
        except RegistryError as error:
            return _fail(str(error))
    print(f"live model: {change.live} (was {change.previous}); a running `vigil run` switches within seconds")
    return 0


def add_finetune_commands(commands: argparse._SubParsersAction) -> None:
    finetune = commands.add_parser("finetune", help="site datasets, fine-tuning, model versions")
    sub = finetune.add_subparsers(dest="finetune_command", required=True)

    def command(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help="config file")
        parser.set_defaults(handler=_with_config(handler))
        return parser

    importing = command("import", "import site-labelled clips or images into a dataset", _import)
    importing.add_argument("--dataset", required=True)
    importing.add_argument("--format", required=True, choices=FORMATS)
    importing.add_argument("--video", type=Path, help="cvat-video, spans: the clip")
    importing.add_argument("--annotations", type=Path, help="cvat-video: CVAT for video 1.1 XML; coco: JSON")
    importing.add_argument("--path", type=Path, help="yolo: export folder or .zip")
    importing.add_argument("--images", type=Path, help="coco: image folder or .zip")
    importing.add_argument("--spans", type=Path, help="spans: CSV of start_s,end_s,label")
    importing.add_argument("--every", type=int, default=1, help="video formats: take every Nth frame")
    importing.add_argument("--json", action="store_true", help="print the result (or the refusal) as JSON")
    importing.add_argument("--progress-file", type=Path, help="keep 'done total' frames in this file while importing")
    importing.add_argument("--add-class", action="append", default=[], metavar="NAME",
                           help="a new class the import may use (repeat for several)")

    feedback = command("feedback", "add reviewed alerts to a dataset (confirmed: labels; false: negatives)", _feedback)
    feedback.add_argument("--dataset", required=True)

    train = command("train", "fine-tune the live model on a dataset, evaluate it against the live one", _train)
    train.add_argument("--dataset", required=True)
    train.add_argument("--epochs", type=int)
    train.add_argument("--imgsz", type=int)
    train.add_argument("--batch", type=int)
    train.add_argument("--freeze", type=int, help="layers to keep frozen (10: the YOLOv8/11 backbone)")
    train.add_argument("--lr0", type=float)
    train.add_argument("--optimizer", choices=("AdamW", "Adam", "SGD"))
    train.add_argument("--patience", type=int, help="early stopping: epochs without a better AP50 on the taught classes")
    train.add_argument("--time-budget-min", type=float, help="most minutes of training: no epoch starts that would end past it")
    train.add_argument("--seed", type=int)
    train.add_argument("--feedback", action="store_true", help="take in reviewed alerts first")
    train.add_argument("--promote-if-better", action="store_true", help="make the candidate live if it passes the gate")
    train.add_argument("--json", action="store_true", help="print the finished job as JSON")

    datasets = command("datasets", "list datasets: frames, clips, boxes per class", _datasets)
    datasets.add_argument("--json", action="store_true")

    models = command("models", "list model versions; * marks the live one", _models)
    models.add_argument("--json", action="store_true")

    promote = command("promote", "make a version live (base: the configured detector.model)", _promote)
    promote.add_argument("version")

    command("rollback", "make the previously live version live again", _promote).set_defaults(version=None)
