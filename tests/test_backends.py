"""Inference backends: selection and fallback, cached exports, and the INT8 agreement check, with the real model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from detector import DEFAULT_LABELS
from detector.agreement import compare_detections
from detector.backends import choose_backend
from detector.exports import ExportCache
from detector.loading import DetectorOptions, SiteFrames, load_detector
from tests.video_frames import sample_frames

SMALL = 320


@pytest.mark.parametrize(
    ("requested", "device", "installed", "expected"),
    [
        (("auto", "auto"), "cuda:0", {"tensorrt", "openvino"}, ("tensorrt", "fp16", "cuda:0")),
        (("auto", "auto"), "cuda:0", {"openvino"}, ("pytorch", "fp16", "cuda:0")),
        (("auto", "auto"), "cpu", {"openvino", "onnx"}, ("openvino", "fp32", "cpu")),
        (("auto", "auto"), "cpu", set(), ("pytorch", "fp32", "cpu")),
        (("tensorrt", "int8"), "cpu", {"openvino"}, ("openvino", "int8", "cpu")),
        (("openvino", "fp16"), "cuda:1", {"openvino"}, ("openvino", "fp16", "cpu")),
        (("onnx", "fp16"), "cpu", {"onnx"}, ("onnx", "fp32", "cpu")),
        (("pytorch", "int8"), "cuda:0", set(), ("pytorch", "fp16", "cuda:0")),
    ],
)
def test_backend_choice_and_fallbacks(requested, device, installed, expected) -> None:
    choice = choose_backend(*requested, device, installed=installed)
    assert (choice.backend, choice.precision, choice.device) == expected
    substituted = requested[0] not in ("auto", expected[0]) or requested[1] not in ("auto", expected[1]) \
        or device != expected[2]
    assert bool(choice.fallbacks) == substituted, choice.fallbacks


def test_an_unavailable_backend_falls_back_with_one_log_line(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    options = DetectorOptions(imgsz=SMALL, device="cpu", labels=DEFAULT_LABELS, backend="onnx")
    detector = load_detector("default", options, ExportCache(tmp_path), installed=set())
    assert (detector.backend, detector.precision) == ("pytorch", "fp32")
    lines = [r.getMessage() for r in caplog.records if r.name == "detector.loading"]
    assert lines == ["detector: onnx needs onnxruntime, which is not installed; using pytorch"]
    assert not any(tmp_path.iterdir()), "PyTorch needs no export"


@pytest.fixture(scope="module")
def small_exports(tmp_path_factory: pytest.TempPathFactory) -> ExportCache:
    """The FP32 OpenVINO export at SMALL, made once for this module's tests."""
    return ExportCache(tmp_path_factory.mktemp("exports"))


@pytest.mark.slow
def test_openvino_export_is_made_once_and_agrees_with_pytorch(small_exports: ExportCache, sample_video: Path,
                                                              caplog) -> None:
    caplog.set_level(logging.INFO)
    frames = sample_frames(sample_video, count=12, every=10)
    cache = small_exports
    options = DetectorOptions(imgsz=SMALL, device="cpu", labels=DEFAULT_LABELS, backend="openvino", max_batch=4)
    first = load_detector("default", options, cache)
    assert caplog.text.count("exporting best.pt for openvino-fp32-320-b4") <= 1
    [folder] = cache.root.glob("*-openvino-fp32-320-b4")
    built_at = (folder / "export.json").stat().st_mtime_ns
    caplog.clear()
    second = load_detector("default", options, cache)
    assert "exporting" not in caplog.text, "the second start reuses the export"
    assert (folder / "export.json").stat().st_mtime_ns == built_at
    assert (first.backend, second.backend, second.precision) == ("openvino", "openvino", "fp32")
    assert second.class_names == ["person", "fallen_person"], "labels are remapped on exports too"

    reference = load_detector("default", DetectorOptions(imgsz=SMALL, device="cpu", labels=DEFAULT_LABELS,
                                                         backend="pytorch"), cache)
    batched = second.detect(frames[:4]) + second.detect(frames[4:8]) + second.detect(frames[8:])
    agreement = compare_detections([d for f in frames for d in reference.detect([f])], batched, reference.class_names)
    assert agreement.overall >= 0.95, agreement.summary()


@pytest.mark.slow
def test_int8_is_refused_when_it_disagrees_with_fp32(small_exports: ExportCache, sample_video: Path, caplog) -> None:
    """A deliberately bad calibration set (blank white frames) ruins the INT8 ranges: FP32 serves instead."""
    caplog.set_level(logging.INFO)
    held_out = sample_frames(sample_video, count=20, every=10)
    blank = [np.full_like(held_out[0], 255) for _ in range(12)]
    cache = small_exports
    options = DetectorOptions(imgsz=SMALL, device="cpu", labels=DEFAULT_LABELS, backend="openvino", precision="int8",
                              max_batch=4, int8_min_agreement=0.9)
    detector = load_detector("default", options, cache, site_frames=lambda: SiteFrames(blank, held_out))
    assert (detector.backend, detector.precision) == ("openvino", "fp32")
    refusal = next(r.getMessage() for r in caplog.records if "INT8 refused" in r.getMessage())
    assert "agrees with FP32 below 0.9 for person" in refusal and "boxes" in refusal, refusal

    caplog.clear()
    again = load_detector("default", options, cache, site_frames=lambda: pytest.fail("the verdict is cached"))
    assert again.precision == "fp32" and "INT8 refused" in caplog.text


@pytest.mark.slow
def test_int8_calibrated_on_site_frames_is_used_when_it_agrees(shared_exports: Path, sample_video: Path) -> None:
    """In the session's export cache: the FP32 export it is checked against is the one `vigil run` tests made."""
    frames = sample_frames(sample_video, count=45, every=7)
    options = DetectorOptions(imgsz=416, device="cpu", labels=DEFAULT_LABELS, backend="openvino", precision="int8",
                              max_batch=4, int8_min_agreement=0.8)
    detector = load_detector("default", options, ExportCache(shared_exports),
                             site_frames=lambda: SiteFrames(frames[::3] + frames[1::3], frames[2::3]))
    assert (detector.backend, detector.precision) == ("openvino", "int8")
    [manifest] = shared_exports.glob("*-openvino-int8-416-b4/export.json")
    assert '"int8_check"' in manifest.read_text() and '"calibration_frames": 30' in manifest.read_text()


def test_agreement_matches_boxes_one_to_one_per_class() -> None:
    def boxes(*rows):
        rows = np.array(rows, dtype=float).reshape(-1, 5)
        return sv.Detections(xyxy=rows[:, :4], class_id=rows[:, 4].astype(int), confidence=np.ones(len(rows)))

    reference = [boxes([0, 0, 10, 10, 0], [20, 20, 30, 30, 0], [50, 50, 60, 60, 1])]
    candidate = [boxes([1, 1, 10, 10, 0], [0, 0, 10, 10, 0], [50, 50, 60, 60, 0])]
    result = compare_detections(reference, candidate, ["person", "fallen_person"])
    person, fallen = result.classes
    assert (person.reference, person.candidate, person.matched) == (2, 3, 1), "one box matches one box only"
    assert (fallen.reference, fallen.candidate, fallen.matched) == (1, 0, 0), "another class does not match"
    assert result.failing(0.5) == [person, fallen]
