"""Fine-tuning on a site scene with a class the default model has never seen, with the product's defaults.

Each case builds a dataset the way a site would (clips labelled in CVAT for video 1.1 at the camera's 10 fps,
imported every 5th frame with `--add-class package`, the default model's people as pseudo-labels), runs the
training job as `vigil finetune train --epochs 15 --imgsz 416 --promote-if-better` would, and then measures
candidate and default model on footage that was never in any clip: the second half of the sample video with
packages at other places. Cases: `one-clip` (one 40 s clip, the common site case) and `six-clips` (six 5 s
clips over the same 40 s). Printed per case: split sizes, package AP50 on the unseen footage, person AP50 and
recall of the default model's own boxes (at 640 and detector.conf), mean person score before and after, wall
time from import to the gate's verdict, and that verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import supervision as sv
import torch

from site_scene import PACKAGE_CLASS, SceneFrame, package_scene, write_labelled_clip
from detector import DEFAULT_LABELS, DEFAULT_MODEL, YoloDetector
from detector.model import resolve_device
from finetune.dataset import SiteDataset, yolo_box
from finetune.evaluation import HeldOutFrame, ModelEvaluation, comparison_table, evaluate
from finetune.importers import import_cvat_video
from finetune.pseudo_labels import PseudoLabeler
from finetune.training_job import run_training_job
from vigil.config import VigilConfig
from vigil.finetune_service import job_spec
from vigil.stores import open_store, site_registry

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "data" / "samples" / "vtest.avi"
CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
UNSEEN_FROM_S = 40.0
"""Clips come from before this stream time, the unseen footage from after it."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    clips: int
    clip_s: float


CASES = {"one-clip": Case("one-clip", 1, 40.0), "six-clips": Case("six-clips", 6, 5.0), "smoke": Case("smoke", 1, 6.0)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", nargs="+", choices=["one-clip", "six-clips"], default=["one-clip", "six-clips"])
    parser.add_argument("--every", type=int, default=5, help="import every Nth frame of the 10 fps clips")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--freeze", type=int, help="layers kept frozen (default: the config's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reference", action="store_true",
                        help="also train the hand-written Ultralytics recipe on the same frames, as the baseline")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--smoke", action="store_true", help="seconds, not minutes: a short clip, one epoch, tiny size")
    args = parser.parse_args()
    if args.smoke:
        args.case, args.epochs, args.imgsz = ["smoke"], 1, 160
    return args


class Reporter:
    """Prints stages and one line per epoch (the job runs in this process)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def stage(self, name: str, message: str = "") -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {name}: {message}", flush=True)

    def fraction(self, name: str, done: int, total: int) -> None:
        pass

    def batch_done(self, progress) -> None:
        pass

    def epoch_done(self, record) -> None:
        losses = " ".join(f"{k} {v:.3f}" for k, v in record.losses.items())
        print(f"[{time.monotonic() - self.started:6.1f} s] epoch {record.epoch}: {losses} "
              f"taught AP50 {record.metrics.get('metrics/taught_AP50(B)', float('nan')):.3f} "
              f"mAP50 {record.metrics.get('metrics/mAP50(B)', float('nan')):.3f}", flush=True)


def site_config(root: Path, args: argparse.Namespace) -> VigilConfig:
    """The bundled config.yaml's detector and finetune defaults, with this run's folders."""
    import yaml

    bundled = yaml.safe_load(CONFIG.read_text())
    finetune = bundled["finetune"] | {"datasets_dir": str(root / "datasets"), "models_dir": str(root / "models"),
                                      "runs_dir": str(root / "runs"), "device": args.device}
    return VigilConfig.model_validate({
        "cameras": {"site": {"url": str(SAMPLE_VIDEO)}},
        "detector": bundled["detector"] | {"device": args.device} | ({"imgsz": args.imgsz} if args.smoke else {}),
        "storage": {"database": str(root / "vigil.db"), "media_dir": str(root / "media")},
        "finetune": finetune,
    })


def labelled_clips(case: Case, root: Path) -> list[tuple[Path, Path]]:
    """The site's work: clips of the camera at 10 fps, every frame labelled in CVAT for video 1.1."""
    gap = 0.0 if case.clips == 1 else (UNSEEN_FROM_S - case.clips * case.clip_s) / (case.clips - 1)
    clips = []
    for number in range(case.clips):
        start = number * (case.clip_s + gap)
        frames = list(package_scene(SAMPLE_VIDEO, start_s=start, end_s=start + case.clip_s, seed=number))
        clips.append((root / f"clip{number}.mp4", root / f"clip{number}.xml"))
        write_labelled_clip(frames, *clips[-1], fps=10)
    return clips


def import_clips(config: VigilConfig, labeler: PseudoLabeler, clips: list[tuple[Path, Path]], every: int) -> SiteDataset:
    """`vigil finetune import --format cvat-video --every N --add-class package` of each clip."""
    dataset = SiteDataset.open_or_create(config.finetune.datasets_dir, "site", labeler.detector.class_names)
    for video, xml in clips:
        import_cvat_video(dataset, video, xml, every=every, aliases=config.detector.labels,
                          add_classes=[PACKAGE_CLASS], labeler=labeler, max_bytes=1 << 30)
    return dataset


def unseen_footage(labeler: PseudoLabeler, folder: Path, every: int, smoke: bool) -> list[HeldOutFrame]:
    """Frames after UNSEEN_FROM_S with packages at other places; people as the default model labels them."""
    folder.mkdir(parents=True, exist_ok=True)
    end = UNSEEN_FROM_S + (4.0 if smoke else 40.0)
    scene: list[SceneFrame] = list(package_scene(SAMPLE_VIDEO, every=every, start_s=UNSEEN_FROM_S, end_s=end, seed=99))
    people = labeler.detect([f.image for f in scene], classes={"person"})
    frames = []
    for scene_frame, detections in zip(scene, people):
        path = folder / f"{scene_frame.index:05d}.jpg"
        cv2.imwrite(str(path), scene_frame.image)
        height, width = scene_frame.image.shape[:2]
        boxes = [(PACKAGE_CLASS, yolo_box(box, width, height)) for box in scene_frame.packages]
        boxes += [("person", yolo_box(tuple(box), width, height)) for box in detections.xyxy]
        frames.append(HeldOutFrame(path, boxes, pseudo=len(detections)))
    return frames


def mean_person_score(detector: YoloDetector, frames: list[HeldOutFrame], conf: float) -> float:
    """Mean score of the model's person boxes (from `conf`) on the people the default model labelled (IoU ≥ 0.5)."""
    scores = []
    for frame in frames:
        image = cv2.imread(str(frame.image))
        height, width = image.shape[:2]
        people = [box for name, box in frame.boxes if name == "person"]
        detections = detector.detect([image])[0]
        detections = detections[(detections.data["class_name"] == "person") & (detections.confidence >= conf)]
        if not people or not len(detections):
            continue
        targets = sv.xcycwh_to_xyxy(np.array(people) * [width, height, width, height])
        iou = sv.box_iou_batch(targets, detections.xyxy)
        scores += [float(detections.confidence[row.argmax()]) for row in iou if row.max() >= 0.5]
    return float(np.mean(scores)) if scores else 0.0


def reference_recipe(dataset: SiteDataset, root: Path, args: argparse.Namespace) -> tuple[str, float]:
    """The hand-written script a site would write instead: the same frames and labels (people from the default
    model), a random 80/20 frame split, and plain `YOLO(...).train(epochs, imgsz, freeze=10)`; its best weights
    and training seconds."""
    import random

    import yaml
    from ultralytics import YOLO

    from detector import resolve_weights

    classes = dataset.classes
    entries = dataset.entries()
    random.Random(0).shuffle(entries)
    parts = {"val": entries[: len(entries) // 5], "train": entries[len(entries) // 5 :]}
    folder = root / "reference"
    for part, chosen in parts.items():
        (folder / "images" / part).mkdir(parents=True)
        (folder / "labels" / part).mkdir(parents=True)
        for entry in chosen:
            (folder / "images" / part / f"{entry.id}.jpg").symlink_to(dataset.image_path(entry).resolve())
            lines = [f"{classes.index(name)} {' '.join(f'{v:.6f}' for v in box)}\n" for name, box in dataset.read_boxes(entry)]
            (folder / "labels" / part / f"{entry.id}.txt").write_text("".join(lines))
    data = folder / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(folder), "train": "images/train", "val": "images/val",
                                    "names": dict(enumerate(classes))}))
    started = time.monotonic()
    model = YOLO(resolve_weights(DEFAULT_MODEL))
    model.train(data=str(data), epochs=args.epochs, imgsz=args.imgsz, freeze=10, batch=8, workers=0, plots=False,
                device=resolve_device(args.device), project=str(folder), name="run", verbose=False)
    return str(folder / "run" / "weights" / "best.pt"), time.monotonic() - started


def run_case(case: Case, args: argparse.Namespace, labeler: PseudoLabeler, unseen: list[HeldOutFrame]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"vigil-finetune-{case.name}-") as folder:
        root = Path(folder)
        config = site_config(root, args)
        clips = labelled_clips(case, root)
        reporter = Reporter()
        reporter.stage("import", f"{case.clips} clip(s) of {case.clip_s:g} s, every {args.every}th frame")
        dataset = import_clips(config, labeler, clips, args.every)
        summary = dataset.summary()
        reporter.stage("imported", f"{summary['samples']} frames, labels {summary['labels']}, "
                                   f"pseudo-labels {summary['pseudo_labels']}")
        spec = job_spec(config, "site", promote=True, feedback=False, epochs=args.epochs, imgsz=args.imgsz,
                        freeze=args.freeze)
        result = run_training_job(spec, 0, reporter, config.storage.database)
        wall_s = time.monotonic() - reporter.started
        with closing(open_store(config)) as store:
            models = {"candidate": site_registry(config, store).get(result["version"]).weights,
                      "default": DEFAULT_MODEL}
        reference_s = None
        if args.reference:
            models["reference"], reference_s = reference_recipe(dataset, root, args)
        evaluations: list[ModelEvaluation] = []
        person_scores = {}
        classes: list[str] = []
        for name, weights in models.items():
            detector = YoloDetector(weights, imgsz=config.detector.imgsz, conf=0.001, device=args.device,
                                    labels=DEFAULT_LABELS)
            classes = classes or detector.class_names
            evaluations.append(evaluate(detector, name, unseen, classes, config.detector.conf))
            person_scores[name] = mean_person_score(detector, unseen, config.detector.conf)
    candidate, default = evaluations[:2]
    reference = evaluations[2] if args.reference else None
    training = result["training"]
    print(f"\n{case.name}: unseen footage ({len(unseen)} frames)\n{comparison_table(evaluations)}")
    print(f"gate: {'passed' if result['gate']['passed'] else 'not passed'} ({'promoted' if result['promoted'] else 'not promoted'}); "
          + "; ".join(result["gate"]["reasons"]), flush=True)
    return {
        "case": case.name,
        "split": {"method": training["split_method"], "train": training["train_frames"], "held_out": training["val_frames"],
                  "left_out_by_guard": training["guarded_frames"], "held_out_units": training["val_units"]},
        "package_ap50_unseen": {"candidate": candidate.value(PACKAGE_CLASS, "ap50"), "default": default.value(PACKAGE_CLASS, "ap50")},
        "person_ap50_vs_teacher": {"candidate": candidate.value("person", "ap50"), "default": default.value("person", "ap50")},
        "person_recall_of_teacher": {"candidate": candidate.value("person", "recall"),
                                     "default": default.value("person", "recall")},
        "mean_person_score": person_scores,
        "reference_recipe": None if reference is None else {
            "package_ap50_unseen": reference.value(PACKAGE_CLASS, "ap50"),
            "person_recall_of_teacher": reference.value("person", "recall"),
            "training_s": round(reference_s, 1),
        },
        "epochs_run": training["epochs_run"],
        "wall_s": round(wall_s, 1),
        "gate": result["gate"],
        "promoted": result["promoted"],
        "unseen_evaluations": [e.to_dict() for e in evaluations],
    }


def _shown(value: float | None) -> str:
    """A measure to three decimals, or — where nothing could be measured (no instance found)."""
    return "—" if value is None else f"{value:.3f}"


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory(prefix="vigil-unseen-") as folder:
        labeler = PseudoLabeler.from_weights(DEFAULT_MODEL, imgsz=args.imgsz if args.smoke else 640, device=device,
                                             labels=DEFAULT_LABELS,
                                             min_score=0.35, class_min_score={"fallen_person": 0.7})
        unseen = unseen_footage(labeler, Path(folder), args.every, args.smoke)
        results = [run_case(CASES[name], args, labeler, unseen) for name in args.case]
    print(f"\n{'case':<10} {'split':<9} {'train/val':>9} {'package AP50 unseen':>20} {'person recall':>13} "
          f"{'person score':>13} {'wall':>7}  gate")
    for r in results:
        package, agree, score = r["package_ap50_unseen"], r["person_recall_of_teacher"], r["mean_person_score"]
        print(f"{r['case']:<10} {r['split']['method']:<9} {r['split']['train']:>4}/{r['split']['held_out']:<4} "
              f"{_shown(package['default']):>8} → {_shown(package['candidate'])} {_shown(agree['candidate']):>13} "
              f"{score['default']:>5.2f} → {score['candidate']:.2f} {r['wall_s'] / 60:>5.1f} m  "
              f"{'promoted' if r['promoted'] else 'kept the default'}")
        if r["reference_recipe"]:
            ref = r["reference_recipe"]
            print(f"{'':<10} reference recipe: package AP50 unseen {_shown(ref['package_ap50_unseen'])}, person "
                  f"recall {_shown(ref['person_recall_of_teacher'])}, training {ref['training_s'] / 60:.1f} m")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
                        "platform": platform.platform()},
            "results": results,
        }, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
