"""Fine-tuning on a site scene with a class the default model has never seen: candidate vs default, held-out clips.

Builds a dataset the way a site would (labelled clips in CVAT for video 1.1, imported with pseudo-labels for the
old classes), fine-tunes from the default model with the configured recipe, and prints the evaluation the gate
sees: AP50 of the new class `package`, AP50 of `person` (the forgetting check), and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from site_scene import PACKAGE_CLASS, package_scene, write_labelled_clip
from detector import DEFAULT_LABELS, DEFAULT_MODEL
from detector.model import resolve_device
from finetune.dataset import SiteDataset
from finetune.evaluation import comparison_table
from finetune.importers import import_cvat_video
from finetune.pseudo_labels import PseudoLabeler
from finetune.training import TrainingParams
from finetune.training_job import JobSpec, evaluations_of, run_training_job

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "data" / "samples" / "vtest.avi"
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=6, help="clips cut from the sample video")
    parser.add_argument("--clip-s", type=float, default=12.0)
    parser.add_argument("--every", type=int, default=4, help="keep every Nth frame (the video runs at 10 fps)")
    parser.add_argument("--held-out", type=float, default=0.34, help="share of frames held out, whole clips")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--freeze", type=int, default=10)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--pseudo-min-score", type=float, default=0.35,
                        help="the default model's boxes of old classes kept as labels from this score")
    parser.add_argument("--label-imgsz", type=int, default=640, help="input size of the default model's pseudo-labels")
    parser.add_argument("--save", type=Path, help="write the results as JSON here")
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: two short clips, one epoch, tiny size")
    args = parser.parse_args()
    if args.smoke:
        args.clips, args.clip_s, args.epochs, args.imgsz, args.batch, args.label_imgsz = 2, 4.0, 1, 160, 4, 320
    return args


class EpochPrinter:
    """Prints one line per epoch (the benchmark runs in this process, not as a job)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def stage(self, name: str, message: str = "") -> None:
        print(f"[{time.monotonic() - self.started:7.1f} s] {name}: {message}", flush=True)

    def fraction(self, name: str, done: int, total: int) -> None:
        pass

    def batch_done(self, progress) -> None:
        pass

    def epoch_done(self, record) -> None:
        losses = " ".join(f"{k} {v:.3f}" for k, v in record.losses.items())
        print(f"[{time.monotonic() - self.started:7.1f} s] epoch {record.epoch}: {losses} "
              f"val mAP50 {record.metrics.get('metrics/mAP50(B)', float('nan')):.3f}", flush=True)


def build_dataset(root: Path, args: argparse.Namespace, device: str) -> SiteDataset:
    """Labelled clips as a site hands them over, imported with the default model's pseudo-labels at full size."""
    labeler = PseudoLabeler.from_weights(
        DEFAULT_MODEL, imgsz=args.label_imgsz, device=device, labels=DEFAULT_LABELS, min_score=args.pseudo_min_score,
        class_min_score={"fallen_person": 0.7},
    )
    dataset = SiteDataset.open_or_create(root / "datasets", "site", labeler.detector.class_names)
    gap = (80.0 - args.clips * args.clip_s) / max(args.clips - 1, 1)
    for number in range(args.clips):
        start = number * (args.clip_s + gap)
        frames = list(package_scene(SAMPLE_VIDEO, every=args.every, start_s=start, end_s=start + args.clip_s,
                                    seed=number))
        video, xml = root / f"clip{number}.mp4", root / f"clip{number}.xml"
        write_labelled_clip(frames, video, xml, fps=10 / args.every)
        import_cvat_video(dataset, video, xml, aliases=DEFAULT_LABELS, add_classes=[PACKAGE_CLASS], labeler=labeler,
                          max_bytes=1 << 30)
    return dataset


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="vigil-finetune-bench-") as folder:
        root = Path(folder)
        started = time.monotonic()
        dataset = build_dataset(root, args, device)
        summary = dataset.summary()
        import_s = time.monotonic() - started
        print(f"dataset: {summary['samples']} frames from {summary['clips']} clips, labels {summary['labels']}, "
              f"pseudo-labels {summary['pseudo_labels']} ({import_s:.0f} s)", flush=True)
        spec = JobSpec(
            dataset="site", datasets_dir=str(root / "datasets"), models_dir=str(root / "models"),
            runs_dir=str(root / "runs"), base_model=DEFAULT_MODEL, labels=DEFAULT_LABELS,
            params=TrainingParams(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, freeze=args.freeze,
                                  patience=args.patience, device=args.device),
            val_fraction=args.held_out, segment_s=args.clip_s + 1, guard_s=0.0, eval_imgsz=args.imgsz,
        )
        started = time.monotonic()
        result = run_training_job(spec, 0, EpochPrinter())
        wall_s = time.monotonic() - started
    candidate, default = evaluations_of(result)
    print()
    print(comparison_table([candidate, default]))
    print(f"\ngate: {'passed' if result['gate']['passed'] else 'not passed'}; " + "; ".join(result["gate"]["reasons"]))
    training = result["training"]
    numbers = {
        "package_ap50": {"candidate": candidate.value(PACKAGE_CLASS, "ap50"), "default": default.value(PACKAGE_CLASS, "ap50")},
        "person_ap50": {"candidate": candidate.value("person", "ap50"), "default": default.value("person", "ap50")},
        "train_frames": training["train_frames"],
        "held_out_frames": training["val_frames"],
        "epochs_run": training["epochs_run"],
        "training_wall_s": round(wall_s, 1),
        "import_wall_s": round(import_s, 1),
    }
    print(f"\npackage AP50: default {numbers['package_ap50']['default']:.3f} → candidate "
          f"{numbers['package_ap50']['candidate']:.3f}; person AP50: default {numbers['person_ap50']['default']:.3f} → "
          f"candidate {numbers['person_ap50']['candidate']:.3f}; {training['epochs_run']} epochs, "
          f"{training['train_frames']} training / {training['val_frames']} held-out frames, {wall_s / 60:.1f} min")
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
                        "platform": platform.platform()},
            "numbers": numbers,
            "evaluations": result["evaluations"],
            "gate": result["gate"],
        }, indent=1))


if __name__ == "__main__":
    main()
