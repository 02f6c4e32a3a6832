"""Every backend and precision against PyTorch FP32 on the same frames: matched boxes at IoU 0.5, per class.

INT8 is calibrated on frames from the first half of the video and compared on frames from the second half, so
no compared frame was seen in calibration. Also prints each backend's frames/s at batch 1 and 4 on those frames.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import av
import numpy as np

from detector import DEFAULT_LABELS, DEFAULT_MODEL, YoloDetector
from detector.agreement import compare_detections
from detector.exports import ExportCache, ExportFailed
from detector.loading import DetectorOptions, SiteFrames, load_detector

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"
DEFAULT_CONFIGURATIONS = ["openvino:fp32", "openvino:fp16", "openvino:int8", "onnx:fp32", "onnx:int8"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configurations", nargs="*", default=DEFAULT_CONFIGURATIONS, help="backend:precision")
    parser.add_argument("--video", type=Path, default=SAMPLE_VIDEO)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--frames", type=int, default=100, help="compared frames, from the video's second half")
    parser.add_argument("--calibration", type=int, default=80, help="INT8 calibration frames, from its first half")
    parser.add_argument("--speed-s", type=float, default=8.0, help="seconds of timing per batch size")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-exports" / "agreement",
                        help="its own export cache: an INT8 export here was calibrated on this bench's frames only")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: one backend, tiny size, few frames")
    args = parser.parse_args()
    if args.smoke:
        args.configurations, args.imgsz, args.frames, args.calibration, args.speed_s = ["openvino:fp32"], 160, 4, 4, 0.5
    return args


def frames_from(video: Path, first: int, last: int, count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over frame indices [first, last)."""
    wanted = set(np.linspace(first, last - 1, count).round().astype(int).tolist())
    with av.open(str(video)) as container:
        return [f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0)) if i in wanted]


def frames_per_second(detector: YoloDetector, frames: list[np.ndarray], batch: int, seconds: float) -> float:
    detector.detect(frames[:batch])
    done, started = 0, time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        detector.detect([frames[(done + k) % len(frames)] for k in range(batch)])
        done += batch
    return done / elapsed


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with av.open(str(args.video)) as container:
        total = container.streams.video[0].frames
    compared = frames_from(args.video, total // 2, total, args.frames)
    calibration = frames_from(args.video, 0, total // 2, args.calibration)
    cache = ExportCache(args.cache)

    def build(backend: str, precision: str) -> YoloDetector:
        options = DetectorOptions(imgsz=args.imgsz, device="cpu", labels=DEFAULT_LABELS, backend=backend,
                                  precision=precision, max_batch=4, int8_min_agreement=0.0)
        return load_detector(DEFAULT_MODEL, options, cache,
                             site_frames=lambda: SiteFrames(calibration, compared[: max(1, len(compared) // 4)]))

    reference = build("pytorch", "fp32")
    expected = [reference.detect([frame])[0] for frame in compared]
    rows = [{"backend": "pytorch", "precision": "fp32", "agreement": 1.0,
             "boxes": int(sum(len(d) for d in expected)),
             "fps_batch1": frames_per_second(reference, compared, 1, args.speed_s),
             "fps_batch4": frames_per_second(reference, compared, 4, args.speed_s)}]
    for configuration in args.configurations:
        backend, precision = configuration.split(":")
        try:
            detector = build(backend, precision)
        except ExportFailed as error:
            print(f"{configuration}: not measured: {error}", flush=True)
            continue
        found = [detector.detect([frame])[0] for frame in compared]
        agreement = compare_detections(expected, found, reference.class_names)
        rows.append({
            "backend": detector.backend, "precision": detector.precision, "agreement": agreement.overall,
            "boxes": int(sum(len(d) for d in found)), "classes": agreement.to_dict()["classes"],
            "fps_batch1": frames_per_second(detector, compared, 1, args.speed_s),
            "fps_batch4": frames_per_second(detector, compared, 4, args.speed_s),
        })
        print(f"{configuration}: {agreement.summary()}", flush=True)
    print(f"\n{'backend':<10}{'precision':<11}{'agreement':>10}{'boxes':>7}{'fps b1':>8}{'fps b4':>8}")
    for row in rows:
        print(f"{row['backend']:<10}{row['precision']:<11}{row['agreement']:>10.3f}{row['boxes']:>7}"
              f"{row['fps_batch1']:>8.1f}{row['fps_batch4']:>8.1f}")
    print(f"{len(compared)} frames of {args.video.name} at imgsz {args.imgsz}, {os.cpu_count()} cores")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"imgsz": args.imgsz, "frames": len(compared), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
