"""Frames/s of the Vigil pipeline vs. a hand-written per-frame predict loop vs. the batched detector alone."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import torch

from detector import DEFAULT_LABELS, DEFAULT_MODEL, BatchStats, YoloDetector
from detector.exports import ExportCache
from detector.loading import DetectorOptions, load_detector
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "data" / "samples" / "vtest.avi"
DETECT_FPS = 10.0
"""The sample video's frame rate, so every decoded frame is sent to the detector."""
PERSON_RULE = {"name": "person-seen", "kind": "presence", "classes": ["person"]}
PRELOADED_FRAMES = 64
WARM_UP_BATCHES = 3
BATCH_TIMEOUT_S = 120.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time of each mode, after warm-up")
    parser.add_argument("--rounds", type=int, default=3, help="modes take turns this many times, sharing --seconds")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="pytorch", choices=["auto", "pytorch", "openvino", "onnx", "tensorrt"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "int8"])
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "bench-exports",
                        help="where backend exports are cached")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=25.0)
    parser.add_argument("--video", type=Path, default=SAMPLE_VIDEO)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="a few seconds at a tiny size, to check the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.cameras, args.seconds, args.rounds, args.imgsz = 1, 1.0, 1, 160
    return args


def make_config(args: argparse.Namespace, storage: Path) -> VigilConfig:
    camera = {"url": str(args.video.resolve()), "detect_fps": DETECT_FPS, "loop": True, "realtime": False}
    return VigilConfig.model_validate(
        {
            "cameras": {f"cam{i}": camera for i in range(args.cameras)},
            "detector": {
                "model": args.model,
                "imgsz": args.imgsz,
                "device": args.device,
                "max_batch": args.max_batch,
                "max_wait_ms": args.max_wait_ms,
                "backend": args.backend,
                "precision": args.precision,
            },
            "motion": {"enabled": False},
            "rules": [PERSON_RULE] if args.model == DEFAULT_MODEL else [],
            "storage": {"database": str(storage / "vigil.db"), "media_dir": str(storage / "media")},
        }
    )


def video_frames(path: Path) -> Iterator[np.ndarray]:
    """BGR frames of the video, looping forever, decoded as the camera readers do."""
    while True:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="bgr24")


def run_detector_only(detector: YoloDetector, images: list[np.ndarray], batch: int, seconds: float) -> dict:
    """Batches of preloaded frames through `detector.detect`: the ceiling, no decoding."""
    frames, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        frames += len(detector.detect([images[(frames + k) % len(images)] for k in range(batch)]))
    return {"fps": frames / elapsed, "frames": frames, "elapsed_s": elapsed, "batch_mean": float(batch)}


def run_baseline(detector: YoloDetector, video: Path, seconds: float) -> dict:
    """What a user writes by hand: decode a frame, `predict` it, repeat."""
    frames = video_frames(video)
    count, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        detector.model.predict(next(frames), **detector.predict_options)
        count += 1
    return {"fps": count / elapsed, "frames": count, "elapsed_s": elapsed, "batch_mean": 1.0}


def wait_for_batch(pipeline: Pipeline, after: int) -> float:
    """Block until the batcher has finished more than `after` batches; the time it noticed."""
    deadline = time.monotonic() + BATCH_TIMEOUT_S
    while pipeline.detection.batchers[0].stats.batches <= after:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no batch in {BATCH_TIMEOUT_S:g} s; cameras: {pipeline.status_lines()}")
        time.sleep(0.002)
    return time.monotonic()


def run_pipeline(config: VigilConfig, detector: YoloDetector, seconds: float) -> dict:
    """The real pipeline, readers unpaced; measured between two batch completions after warm-up."""
    pipeline = Pipeline(config, detector=detector)
    pipeline.start()
    try:
        wait_for_batch(pipeline, WARM_UP_BATCHES - 1)
        pipeline.detection.batchers[0].stats = stats = BatchStats()  # forget the warm-up batches and their latencies
        started = wait_for_batch(pipeline, 0)
        first_frames, first_batches = stats.frames, stats.batches
        time.sleep(seconds)
        ended = wait_for_batch(pipeline, stats.batches)
        frames, batches = stats.frames - first_frames, stats.batches - first_batches
        health = pipeline.health.snapshot().values()
        detect_s = sum(list(stats.inference_ms)[1:]) / 1000  # the first batch ended at `started`
    finally:
        pipeline.stop()
    return {
        "fps": frames / (ended - started),
        "frames": frames,
        "elapsed_s": ended - started,
        "batch_mean": frames / batches,
        "latencies_ms": stats.latency_samples_ms(),
        "detector_busy": detect_s / (ended - started),
        "dropped": sum(h.dropped for h in health),
        "decoded_not_detected": sum(h.frames_in - h.frames_out for h in health),
    }


def pool_rounds(runs: list[dict]) -> dict:
    """One result from several rounds of a mode: totals for rates, pooled samples for percentiles."""
    frames, elapsed = sum(r["frames"] for r in runs), sum(r["elapsed_s"] for r in runs)
    pooled = {
        "fps": frames / elapsed,
        "frames": frames,
        "batch_mean": sum(r["frames"] for r in runs) / sum(r["frames"] / r["batch_mean"] for r in runs),
        "fps_per_round": [r["fps"] for r in runs],
        "cores_used": sum(r["cores_used"] * r["elapsed_s"] for r in runs) / elapsed,
        "other_cores_used": sum(r["other_cores_used"] * r["elapsed_s"] for r in runs) / elapsed,
    }
    if "latencies_ms" in runs[0]:
        latencies = [v for r in runs for v in r["latencies_ms"]]
        pooled["latency_p50_ms"], pooled["latency_p95_ms"] = (float(v) for v in np.percentile(latencies, [50, 95]))
        pooled["detector_busy"] = sum(r["detector_busy"] * r["elapsed_s"] for r in runs) / elapsed
        pooled["dropped"] = sum(r["dropped"] for r in runs)
        pooled["decoded_not_detected"] = sum(r["decoded_not_detected"] for r in runs)
    return pooled


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def with_cpu_use(run: Callable[..., dict], *args) -> dict:
    """`run(*args)`'s result plus the cores this process and all other processes kept busy meanwhile."""
    wall, own, busy = time.monotonic(), time.process_time(), machine_busy_s()
    result = run(*args)
    wall, own = time.monotonic() - wall, time.process_time() - own
    other = max(0.0, machine_busy_s() - busy - own)
    if other / wall > 0.1:
        print(f"  warning: other processes kept {other / wall:.2f} cores busy; this mode's numbers are unreliable")
    return {**result, "cores_used": own / wall, "other_cores_used": other / wall}


def machine(device: str) -> dict:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_device": device,
        "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
    }


def print_table(results: dict[str, dict]) -> None:
    print(f"\n{'mode':<14}{'frames/s':>10}{'frames':>8}{'batch':>7}{'p50 ms':>9}{'p95 ms':>9}{'cores':>7}{'other':>7}")
    for mode, r in results.items():
        latency = "".join(f"{r[k]:>9.0f}" if k in r else f"{'-':>9}" for k in ("latency_p50_ms", "latency_p95_ms"))
        cores = f"{r['cores_used']:>7.2f}{r['other_cores_used']:>7.2f}"
        print(f"{mode:<14}{r['fps']:>10.2f}{r['frames']:>8}{r['batch_mean']:>7.2f}{latency}{cores}")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as storage:
        config = make_config(args, Path(storage))
        print(f"loading {args.model} at imgsz {args.imgsz} on {args.device}", flush=True)
        options = DetectorOptions(imgsz=args.imgsz, device=args.device, labels=DEFAULT_LABELS, backend=args.backend,
                                  precision=args.precision, max_batch=args.max_batch)
        detector = load_detector(args.model, options, ExportCache(args.cache))
        batch = min(args.cameras, args.max_batch)
        images = list(itertools.islice(video_frames(args.video), PRELOADED_FRAMES))
        for size in (batch, 1):  # shared warm-up: both batch shapes the runs use
            detector.detect(images[:size])
        share = args.seconds / args.rounds
        runs: dict[str, list[dict]] = {"detector_only": [], "baseline": [], "pipeline": []}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", flush=True)
            print(f"  detector_only: batches of {batch} preloaded frames for {share:g} s", flush=True)
            runs["detector_only"].append(with_cpu_use(run_detector_only, detector, images, batch, share))
            print(f"  baseline: decode + predict one frame at a time for {share:g} s", flush=True)
            runs["baseline"].append(with_cpu_use(run_baseline, detector, args.video, share))
            print(f"  pipeline: {args.cameras} unpaced looping cameras for {share:g} s after warm-up", flush=True)
            runs["pipeline"].append(with_cpu_use(run_pipeline, config, detector, share))
        results = {mode: pool_rounds(mode_runs) for mode, mode_runs in runs.items()}
    info = machine(detector.device)
    print_table(results)
    pipe, base, ceiling = results["pipeline"], results["baseline"], results["detector_only"]
    summary = {
        "pipeline_fps": pipe["fps"],
        "baseline_fps": base["fps"],
        "detector_only_fps": ceiling["fps"],
        "ratio": pipe["fps"] / base["fps"],
        "efficiency": pipe["fps"] / ceiling["fps"],
        "batch_mean": pipe["batch_mean"],
        "latency_p50_ms": pipe["latency_p50_ms"],
        "latency_p95_ms": pipe["latency_p95_ms"],
        "dropped": pipe["dropped"],
        "cameras": args.cameras,
        "imgsz": args.imgsz,
        "device": detector.device,
        "backend": detector.backend,
        "precision": detector.precision,
        "model": args.model,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "machine": info,
        "modes": results,
    }
    print(f"\nratio (pipeline/baseline) {summary['ratio']:.2f}   efficiency (pipeline/detector_only) "
          f"{summary['efficiency']:.2f}   dropped {summary['dropped']}")
    print(f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} on {info['torch_device']}"
          f" with {info['torch_threads']} thread(s)"
          + (f" ({info['gpu']})" if info["gpu"] else ""))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
