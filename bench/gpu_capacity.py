"""The pipeline on a GPU: 16 and 64 real-time cameras of the sample video, with GPU utilisation.

For each camera count it runs the real pipeline (readers paced at the video's rate, `--detect-fps` each, the
configured backend: TensorRT fp16 when installed, else PyTorch fp16) and reports detected frames/s against the
target, mean batch size, decode → detections latency percentiles and the GPU's utilisation sampled by nvidia-smi.
Run it where a GPU is: `python bench/gpu_capacity.py --json bench/results/gpu.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from detector import DEFAULT_LABELS, DEFAULT_MODEL, BatchStats
from detector.exports import ExportCache
from detector.loading import DetectorOptions, load_detector
from vigil.config import VigilConfig
from vigil.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--detect-fps", type=float, default=5.0)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warm-up", type=float, default=10.0)
    parser.add_argument("--video", type=Path, default=SAMPLE_VIDEO)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-exports")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="a few seconds on whatever device there is")
    args = parser.parse_args()
    if args.smoke:
        args.cameras, args.imgsz, args.seconds, args.warm_up, args.backend = [1], 160, 1.0, 1.0, "pytorch"
    return args


class GpuSampler(threading.Thread):
    """Samples `nvidia-smi` utilisation (percent) and memory (MiB) every 0.5 s until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self._stop_requested = threading.Event()

    def run(self) -> None:
        while not self._stop_requested.wait(0.5):
            try:
                line = subprocess.run(
                    ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, timeout=5, check=True,
                ).stdout.splitlines()[0]
            except (OSError, subprocess.SubprocessError, IndexError):
                return
            utilisation, memory = (float(v) for v in line.split(","))
            self.samples.append((utilisation, memory))

    def stop(self) -> dict:
        self._stop_requested.set()
        self.join(timeout=10)
        if not self.samples:
            return {"gpu_utilisation_mean": None, "gpu_memory_mib_max": None}
        utilisation = [u for u, _ in self.samples]
        return {"gpu_utilisation_mean": round(float(np.mean(utilisation)), 1),
                "gpu_memory_mib_max": max(m for _, m in self.samples)}


def run(count: int, detector, args: argparse.Namespace) -> dict:
    camera = {"url": str(args.video), "detect_fps": args.detect_fps, "loop": True, "realtime": True}
    with tempfile.TemporaryDirectory(prefix="vigil-gpu-") as storage:
        config = VigilConfig.model_validate({
            "cameras": {f"cam{i:02d}": camera for i in range(count)},
            "detector": {"model": DEFAULT_MODEL, "imgsz": args.imgsz, "max_batch": args.max_batch},
            "motion": {"enabled": False},
            "workers": {"threads": 4},
            "rules": [{"name": "person-seen", "kind": "presence", "classes": ["person"], "min_score": 0.4}],
            "storage": {"database": f"{storage}/vigil.db", "media_dir": f"{storage}/media"},
            "finetune": {"models_dir": f"{storage}/models"},
        })
        pipeline = Pipeline(config, detector=detector)
        pipeline.start()
        try:
            time.sleep(args.warm_up)
            [batcher] = pipeline.detection.batchers
            batcher.stats = stats = BatchStats()
            sampler = GpuSampler()
            sampler.start()
            started = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - started
            gpu = sampler.stop()
            frames = stats.frames
        finally:
            pipeline.stop()
    p50, p95, p99 = stats.latency_percentiles_ms(50, 95, 99)
    return {
        "cameras": count, "target_fps": count * args.detect_fps, "detected_fps": round(frames / elapsed, 1),
        "batch_mean": round(stats.mean_batch, 2), "latency_p50_ms": round(p50, 1), "latency_p95_ms": round(p95, 1),
        "latency_p99_ms": round(p99, 1), "inference_ms_mean": round(float(np.mean(stats.inference_ms)), 1),
        "dropped": sum(h.dropped for h in pipeline.health.snapshot().values()), **gpu,
    }


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = DetectorOptions(imgsz=args.imgsz, device=args.device, labels=DEFAULT_LABELS, backend=args.backend,
                              precision=args.precision, max_batch=args.max_batch)
    detector = load_detector(DEFAULT_MODEL, options, ExportCache(args.cache))
    gpu = torch.cuda.get_device_name(detector.device) if detector.device.startswith("cuda") else None
    print(f"detector: {detector.backend} {detector.precision} on {detector.device} ({gpu or 'no GPU'})", flush=True)
    results = []
    for count in args.cameras:
        result = run(count, detector, args)
        results.append(result)
        print(f"{count:>3} cameras: {result['detected_fps']:.1f} of {result['target_fps']:.0f} frames/s, "
              f"batch {result['batch_mean']:.1f}, latency p50/p95/p99 {result['latency_p50_ms']}/"
              f"{result['latency_p95_ms']}/{result['latency_p99_ms']} ms, inference {result['inference_ms_mean']} ms, "
              f"GPU {result['gpu_utilisation_mean']} %, dropped {result['dropped']}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"gpu": gpu, "backend": detector.backend, "precision": detector.precision,
                                         "imgsz": args.imgsz, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
