"""How many real-time cameras one machine sustains: per backend, precision, motion gating and scene.

Runs the real pipeline on paced (real-time) looping file cameras and adds cameras until one of them handles
less than 95 % of its detect rate (frames detected plus frames the motion gate skipped) or the p95 latency
from decode to detections passes 1 s; the largest count that held is `max_cameras`. Scenes: `busy` (the
video as it is) and `still` (its empty background with sensor noise, made by the bench). With motion gating
on the still scene, the largest count is run once more with one extra camera where people walk in after a
still period: the time until they are detected, and whether every camera still held, are reported. Today's pipeline (PyTorch fp32, no motion gating) runs first as the baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv
import torch

from detector import DEFAULT_LABELS, DEFAULT_MODEL, BatchStats, YoloDetector
from detector.exports import ExportCache
from detector.loading import DetectorOptions, load_detector
from still_scene import make_still_scenes
from streamer import Frame
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline
from vigil.site_frames import collect_site_frames

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"
HELD_SHARE = 0.95
MAX_P95_S = 1.0
WALK_IN_AFTER_S = 20.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", nargs="+", default=["openvino"], help="backends to measure besides the baseline")
    parser.add_argument("--precision", nargs="+", default=["fp32"], help="precisions to measure, e.g. fp32 int8")
    parser.add_argument("--motion", nargs="+", choices=["on", "off"], default=["on", "off"])
    parser.add_argument("--scene", nargs="+", choices=["busy", "still"], default=["busy", "still"])
    parser.add_argument("--video", type=Path, default=SAMPLE_VIDEO, help="the busy scene; the still one is made from it")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--detect-fps", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per camera count, after warm-up")
    parser.add_argument("--warm-up", type=float, default=5.0)
    parser.add_argument("--max-cameras", type=int, default=64)
    parser.add_argument("--no-baseline", action="store_true", help="skip the PyTorch fp32, motion-off baseline")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-exports", help="export cache")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: one short step of one configuration")
    return parser.parse_args()


@dataclass(frozen=True)
class Configuration:
    backend: str
    precision: str
    motion: bool

    @property
    def name(self) -> str:
        return f"{self.backend} {self.precision} motion {'on' if self.motion else 'off'}"


class ProbedPipeline(Pipeline):
    """The pipeline, noting when the walk-in camera first reports a person after the walk-in time."""

    probe_camera = "walk_in"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.walk_in_latency_s: float | None = None

    def _on_frame_detected(self, frame: Frame, detections: sv.Detections) -> None:
        if (
            frame.camera == self.probe_camera and self.walk_in_latency_s is None and frame.pts >= WALK_IN_AFTER_S
            and len(detections) and "person" in detections.data["class_name"]
        ):
            # Stream time from the walk-in to the frame that showed it, plus that frame's decode → here time.
            self.walk_in_latency_s = frame.pts - WALK_IN_AFTER_S + time.monotonic() - frame.read_clock
        super()._on_frame_detected(frame, detections)


def camera_config(url: Path, args: argparse.Namespace) -> dict:
    return {"url": str(url), "detect_fps": args.detect_fps, "loop": True, "realtime": True}


def make_config(cameras: dict[str, dict], configuration: Configuration, args: argparse.Namespace, storage: Path) -> VigilConfig:
    return VigilConfig.model_validate({
        "cameras": cameras,
        "detector": {"model": DEFAULT_MODEL, "imgsz": args.imgsz, "device": "cpu",
                     "backend": configuration.backend, "precision": configuration.precision},
        "motion": {"enabled": configuration.motion},
        "rules": [{"name": "person-seen", "kind": "presence", "classes": ["person"], "min_score": 0.4}],
        "storage": {"database": str(storage / "vigil.db"), "media_dir": str(storage / "media")},
        "finetune": {"models_dir": str(storage / "models"), "datasets_dir": str(storage / "datasets")},
    })


def run_step(detector: YoloDetector, configuration: Configuration, scene: Path, count: int, args: argparse.Namespace,
             probe: Path | None) -> dict:
    """`count` cameras of `scene` (plus the walk-in probe) for warm-up + `args.seconds`; per-camera numbers."""
    cameras = {f"cam{i:02d}": camera_config(scene, args) for i in range(count)}
    if probe is not None:
        cameras[ProbedPipeline.probe_camera] = camera_config(probe, args)
    with tempfile.TemporaryDirectory(prefix="vigil-capacity-") as storage:
        pipeline = ProbedPipeline(make_config(cameras, configuration, args, Path(storage)), detector=detector)
        pipeline.start()
        try:
            time.sleep(args.warm_up)
            batcher = pipeline.detection.batchers[0]
            batcher.stats = BatchStats()
            before, started = pipeline.health.snapshot(), time.monotonic()
            busy_before = time.process_time()
            # With the walk-in camera the window covers its first 5 s of people too.
            time.sleep(args.seconds if probe is None else max(args.seconds, WALK_IN_AFTER_S + 5 - args.warm_up))
            after, elapsed = pipeline.health.snapshot(), time.monotonic() - started
            cores = (time.process_time() - busy_before) / elapsed
            if probe is not None:
                deadline = time.monotonic() + WALK_IN_AFTER_S + 10
                while pipeline.walk_in_latency_s is None and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            pipeline.stop()
    handled, skipped, detected = {}, 0, 0
    for name in cameras:
        done = after[name].frames_out - before[name].frames_out
        gated = after[name].skipped - before[name].skipped
        handled[name] = (done + gated) / elapsed / args.detect_fps
        skipped, detected = skipped + gated, detected + done
    p50, p95 = batcher.stats.latency_percentiles_ms(50, 95)
    worst = min(handled.values())
    return {
        "cameras": count,
        "held": bool(worst >= HELD_SHARE and (np.isnan(p95) or p95 <= MAX_P95_S * 1000)),
        "worst_camera_share": round(worst, 3),
        "detector_fps": round(detected / elapsed, 2),
        "batch_mean": round(batcher.stats.mean_batch, 2),
        "latency_p50_ms": None if np.isnan(p50) else round(p50, 1),
        "latency_p95_ms": None if np.isnan(p95) else round(p95, 1),
        "skipped_share": round(skipped / max(1, skipped + detected), 3),
        "cores_used": round(cores, 2),
        "walk_in_detected_s": None if pipeline.walk_in_latency_s is None else round(pipeline.walk_in_latency_s, 2),
    }


def search(detector: YoloDetector, configuration: Configuration, scene_name: str, scene: Path, probe: Path | None,
           args: argparse.Namespace) -> dict:
    """Double the cameras until a step fails, then bisect; the largest count that held."""
    steps: dict[int, dict] = {}

    def step(count: int) -> bool:
        result = run_step(detector, configuration, scene, count, args, None)
        steps[count] = result
        print(f"  {scene_name:<5} {configuration.name:<28} {count:>3} cameras: "
              f"{'held' if result['held'] else 'FELL BEHIND'}  worst {result['worst_camera_share']:.2f} of detect fps, "
              f"detector {result['detector_fps']:.1f} frames/s, batch {result['batch_mean']:.2f}, "
              f"p95 {result['latency_p95_ms']} ms, skipped {result['skipped_share']:.0%}, cores {result['cores_used']}",
              flush=True)
        return result["held"]

    low, high = 0, None
    count = 1
    while count <= args.max_cameras and step(count):
        low, count = count, count * 2
        if args.smoke:
            break
    if count <= args.max_cameras and not args.smoke:
        high = count
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if step(middle) else (low, middle)
    best = steps.get(low) or steps[min(steps)]
    walk_in = None
    if probe is not None and low:
        walk_in = run_step(detector, configuration, scene, low, args, probe)
        print(f"  {scene_name:<5} {configuration.name:<28} {low:>3} cameras + 1 where people walk in: "
              f"{'held' if walk_in['held'] else 'FELL BEHIND'}, seen after {walk_in['walk_in_detected_s']} s, "
              f"p95 {walk_in['latency_p95_ms']} ms", flush=True)
    return {
        "max_cameras": low,
        "backend": detector.backend,
        "precision": detector.precision,
        "motion": configuration.motion,
        "scene": scene_name,
        "detect_fps": args.detect_fps,
        "imgsz": args.imgsz,
        "detector_fps": best["detector_fps"],
        "latency_p95_ms": best["latency_p95_ms"],
        "skipped_share": best["skipped_share"],
        "walk_in_detected_s": None if walk_in is None else walk_in["walk_in_detected_s"],
        "walk_in_held": None if walk_in is None else walk_in["held"],
        "steps": [steps[c] for c in sorted(steps)],
        "walk_in_step": walk_in,
    }


def build(configuration: Configuration, args: argparse.Namespace, scene: Path) -> YoloDetector:
    options = DetectorOptions(imgsz=args.imgsz, device="cpu", labels=DEFAULT_LABELS, backend=configuration.backend,
                              precision=configuration.precision, max_batch=4)
    with tempfile.TemporaryDirectory() as storage:
        site = make_config({"site": camera_config(scene, args)}, configuration, args, Path(storage))
        return load_detector(DEFAULT_MODEL, options, ExportCache(args.cache), site_frames=lambda: collect_site_frames(site, 80))


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.smoke:
        args.seconds, args.warm_up, args.imgsz, args.max_cameras, args.scene = 1.0, 1.0, 160, 1, ["busy"]
    with tempfile.TemporaryDirectory(prefix="vigil-scenes-") as folder:
        scenes: dict[str, Path] = {"busy": args.video}
        walk_in = None
        if "still" in args.scene:
            scenes["still"], walk_in = make_still_scenes(args.video, Path(folder), still_s=WALK_IN_AFTER_S)
        configurations = [] if args.no_baseline else [Configuration("pytorch", "fp32", False)]
        configurations += [
            Configuration(backend, precision, motion == "on")
            for backend in args.backend for precision in args.precision for motion in args.motion
        ]
        if args.smoke:
            configurations = configurations[:1]
        results = []
        for configuration in configurations:
            detector = build(configuration, args, args.video)
            print(f"{configuration.name}: serving {detector.backend} {detector.precision}", flush=True)
            for scene_name in args.scene:
                probe = walk_in if scene_name == "still" and configuration.motion else None
                results.append(search(detector, configuration, scene_name, scenes[scene_name], probe, args))
    print(f"\n{'scene':<7}{'backend':<10}{'precision':<10}{'motion':<8}{'max cameras':>12}{'detector fps':>14}"
          f"{'p95 ms':>9}{'skipped':>9}{'walk-in s':>11}")
    for r in results:
        print(f"{r['scene']:<7}{r['backend']:<10}{r['precision']:<10}{'on' if r['motion'] else 'off':<8}"
              f"{r['max_cameras']:>12}{r['detector_fps']:>14.1f}{str(r['latency_p95_ms']):>9}"
              f"{r['skipped_share']:>9.0%}{str(r['walk_in_detected_s']):>11}")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    machine = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    print(f"machine: {machine['cpu']}, {machine['cores']} cores")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
