"""Builds the serving detector: picks the backend, exports and caches the weights, checks INT8 against FP32."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from ultralytics.utils.downloads import attempt_download_asset

from detector.agreement import Agreement, ClassAgreement, compare_detections
from detector.backends import Backend, BackendChoice, Precision, choose_backend, installed_runtimes, resolve_device
from detector.exports import CachedExport, ExportCache, ExportFailed, ExportSpec
from detector.model import YoloDetector
from detector.weights import resolve_weights

log = logging.getLogger(__name__)


MIN_SITE_FRAMES = 10
"""Fewer calibration or held-out frames than this say too little about INT8 on the site."""


class Int8Refused(RuntimeError):
    """INT8 detections disagree with FP32 on the site's held-out frames, or there were no frames to check on."""


@dataclass(frozen=True, slots=True)
class SiteFrames:
    """The site's own pictures (BGR): `calibration` sets INT8 ranges, `held_out` checks INT8 against FP32."""

    calibration: Sequence[np.ndarray]
    held_out: Sequence[np.ndarray]


@dataclass(frozen=True, slots=True)
class DetectorOptions:
    """Everything that shapes the serving detector; see the `detector:` section of the config."""

    imgsz: int = 640
    conf: float = 0.35
    iou: float = 0.5
    device: str = "auto"
    labels: Mapping[str, str] = field(default_factory=dict)
    agnostic_nms: bool = True
    cpu_threads: int | None = None
    backend: Backend = "auto"
    precision: Precision = "auto"
    max_batch: int = 16
    int8_min_agreement: float = 0.9
    """Each class's box agreement with FP32 (IoU 0.5) that INT8 must reach on held-out frames."""

    def detector(self, model: str | Path, choice: BackendChoice) -> YoloDetector:
        return YoloDetector(
            str(model), imgsz=self.imgsz, conf=self.conf, iou=self.iou, device=choice.device, labels=self.labels,
            agnostic_nms=self.agnostic_nms, cpu_threads=self.cpu_threads, backend=choice.backend,
            precision=choice.precision,
        )


def load_detector(
    model: str,
    options: DetectorOptions,
    cache: ExportCache | None,
    site_frames: Callable[[], SiteFrames] | None = None,
    installed: set[str] | None = None,
) -> YoloDetector:
    """The detector for `model` as `options` ask, warmed up; substitutions are logged once each.

    Exports go to `cache` (None: PyTorch only). INT8 is calibrated on `site_frames().calibration` and used only
    when it agrees with FP32 on `site_frames().held_out`; otherwise it is refused, with the numbers logged,
    and the same backend serves at FP32.
    """
    choice = choose_backend(options.backend, options.precision, resolve_device(options.device),
                            installed_runtimes() if installed is None else installed)
    if choice.exported and cache is None:
        choice = BackendChoice("pytorch", "auto", choice.device, (*choice.fallbacks, "no export cache; using pytorch"))
    for fallback in choice.fallbacks:
        log.warning("detector: %s", fallback)
    weights = resolve_weights(model)
    if choice.exported and not Path(weights).is_file():
        weights = str(attempt_download_asset(weights))  # a bare name such as yolo11n.pt: exports need the file
    detector = None
    if choice.exported:
        assert cache is not None
        try:
            detector = _exported_detector(weights, options, choice, cache, site_frames)
        except ExportFailed as error:
            log.error("detector: %s; serving pytorch instead", error)
            choice = BackendChoice("pytorch", "auto", choice.device)
    if detector is None:
        detector = options.detector(weights, choice)
    detector.warm_up(batch=1)
    return detector


def _exported_detector(
    weights: str, options: DetectorOptions, choice: BackendChoice, cache: ExportCache,
    site_frames: Callable[[], SiteFrames] | None,
) -> YoloDetector:
    export = None
    if choice.precision == "int8":
        export = _checked_int8(weights, options, choice, cache, site_frames)
        if export is None:
            choice = replace(choice, precision="fp32")
    if export is None:
        export = cache.get_or_export(weights, _spec(options, choice), device=choice.device)
    return options.detector(export.artifact, choice)


def _spec(options: DetectorOptions, choice: BackendChoice) -> ExportSpec:
    runtime = ""
    if choice.backend == "tensorrt":  # an engine only loads with the TensorRT and the GPU generation it was built for
        import tensorrt
        import torch

        major, minor = torch.cuda.get_device_capability(choice.device)
        runtime = f"trt{tensorrt.__version__}-sm{major}{minor}"
    return ExportSpec(choice.backend, choice.precision, options.imgsz, options.max_batch, runtime)


def _checked_int8(
    weights: str, options: DetectorOptions, choice: BackendChoice, cache: ExportCache,
    site_frames: Callable[[], SiteFrames] | None,
) -> CachedExport | None:
    """The INT8 export if it agrees with FP32 on the site's held-out frames (checked once, then cached), else None."""
    spec = _spec(options, choice)
    export = cache.cached(weights, spec)
    try:
        if export is None or "int8_check" not in export.manifest:
            frames = site_frames() if site_frames is not None else SiteFrames((), ())
            if len(frames.calibration) < MIN_SITE_FRAMES or len(frames.held_out) < MIN_SITE_FRAMES:
                raise Int8Refused(f"INT8 needs at least {MIN_SITE_FRAMES} site frames to calibrate on and as many to "
                                  f"check against FP32; found {len(frames.calibration)} and {len(frames.held_out)}")
            try:
                export = _calibrated(weights, spec, options, choice, cache, frames)
            except Exception as error:  # an export or a check that fails must not stop the start: FP32 serves
                raise Int8Refused(f"calibrating or checking INT8 failed: {error}") from error
        agreement = _stored_agreement(export.manifest["int8_check"])
        if not any(c.reference for c in agreement.classes):
            raise Int8Refused(f"FP32 found nothing on the {agreement.frames} held-out frames: nothing to compare")
        failing = agreement.failing(options.int8_min_agreement)
        if failing:
            names = ", ".join(f"{c.name} {c.agreement:.3f}" for c in failing)
            raise Int8Refused(f"INT8 agrees with FP32 below {options.int8_min_agreement:g} for {names} "
                              f"({agreement.summary()})")
    except Int8Refused as refusal:
        log.error("detector: INT8 refused, serving %s fp32 instead: %s", choice.backend, refusal)
        return None
    log.info("detector: INT8 agrees with FP32: %s", agreement.summary())
    return export


def _calibrated(
    weights: str, spec: ExportSpec, options: DetectorOptions, choice: BackendChoice, cache: ExportCache,
    frames: SiteFrames,
) -> CachedExport:
    """Export INT8 calibrated on the site's frames and record its agreement with PyTorch FP32 on held-out ones."""
    with tempfile.TemporaryDirectory(prefix="vigil-calibration-") as folder:
        reference = options.detector(weights, BackendChoice("pytorch", "fp32", choice.device))
        names = reference.model.names
        dataset = write_calibration_set(frames.calibration, Path(folder), [names[i] for i in range(len(names))])
        log.info("detector: calibrating INT8 on %d site frames; checking on %d held-out frames",
                 len(frames.calibration), len(frames.held_out))
        export = cache.get_or_export(weights, spec, calibration=dataset, device=choice.device)
    candidate = options.detector(export.artifact, choice)
    agreement = compare_detections(
        _detect_each(reference, frames.held_out), _detect_each(candidate, frames.held_out), reference.class_names
    )
    return export.record(int8_check=agreement.to_dict(), calibration_frames=len(frames.calibration))


def _detect_each(detector: YoloDetector, images: Sequence[np.ndarray]) -> list:
    return [d for image in images for d in detector.detect([image])]


def _stored_agreement(record: dict) -> Agreement:
    classes = tuple(
        ClassAgreement(name, c["reference"], c["candidate"], c["matched"]) for name, c in record["classes"].items()
    )
    return Agreement(classes, record["frames"], record["iou"])


def write_calibration_set(images: Sequence[np.ndarray], folder: Path, class_names: Sequence[str]) -> Path:
    """The images as an Ultralytics dataset (JPEGs and a YAML naming the model's classes); returns the YAML.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = write_calibration_set([np.zeros((8, 8, 3), np.uint8)], Path(folder), ["Normal", "Fall"])
        ...     print(path.name, len(list((path.parent / "images").iterdir())))
        data.yaml 1
    """
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        cv2.imwrite(str(images_dir / f"{index:05d}.jpg"), image)
    names = "\n".join(f"  {i}: {name!r}" for i, name in enumerate(class_names))
    path = folder / "data.yaml"
    path.write_text(f"path: {folder}\ntrain: images\nval: images\nnames:\n{names}\n")
    return path
