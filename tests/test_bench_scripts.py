"""Every benchmark script starts the way the README runs it (`python bench/NAME.py`) and finishes a tiny run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text())
CHECKED_APART = {"recording", "notify_latency"}
"""Scripts whose smoke run has a test of its own, which also reads its numbers."""
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]


def test_no_bench_script_shadows_a_vigil_package() -> None:
    """`python bench/x.py` puts bench/ first on sys.path: a bench/finetune.py would hide the finetune package."""
    packages = {name.rstrip("*") for name in PACKAGES}
    assert SCRIPTS, "the benchmark scripts were found"
    assert not [p.name for p in (ROOT / "bench").glob("*.py") if p.stem in packages]


@pytest.mark.slow
@pytest.mark.parametrize("script", [p for p in SCRIPTS if p.stem not in CHECKED_APART],
                         ids=[p.stem for p in SCRIPTS if p.stem not in CHECKED_APART])
def test_bench_script_runs_its_smoke_mode(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--smoke"], cwd=ROOT, capture_output=True, text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a benchmark prints its numbers"


@pytest.mark.slow
def test_recording_bench_measures_the_recorder_and_the_clip_path(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "bench/recording.py", "--smoke", "--json", str(tmp_path / "recording.json")], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = re.search(r"^recording 1 x 180p: ([\d.]+) % of a core per camera, ([\d.]+) GB/hour per camera, "
                        r"(-?[\d.]+) MB RSS per camera$", result.stdout, re.MULTILINE)
    assert printed, result.stdout
    assert re.search(r"^clip path 1 x 180p .*: ([\d.]+) % of a core per camera", result.stdout, re.MULTILINE)
    numbers = json.loads((tmp_path / "recording.json").read_text())
    recording, clip_path = numbers["recording"], numbers["clip_path"]
    assert 0 < recording["cpu_percent_per_camera"] < 100
    assert recording["bytes_per_hour_per_camera"] > 0 and recording["segments"] >= 1
    assert recording["probed_segment"]["codec"] == "h264" and recording["probed_segment"]["packets"] > 0
    assert float(printed[1]) == pytest.approx(recording["cpu_percent_per_camera"], abs=0.05)
    assert clip_path["cpu_percent_per_camera"] > 0 and clip_path["clips"] >= 1
    assert clip_path["clip_bytes_per_hour_per_camera"] > 0


@pytest.mark.slow
def test_notification_bench_times_every_alert_at_every_sink(tmp_path: Path, shared_exports: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "exports").symlink_to(shared_exports, target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "bench/notify_latency.py", "--smoke", "--models", str(tmp_path / "models"), "--json",
         str(tmp_path / "notify.json")], cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads((tmp_path / "notify.json").read_text())
    assert numbers["alerts"] >= 1, result.stdout
    for sink in ("mqtt", "webhook", "apprise"):
        assert numbers["latency"][sink]["count"] == numbers["alerts"], f"{sink} got every alert"
        assert re.search(rf"^{sink}: {numbers['alerts']}/{numbers['alerts']} delivered, frame to arrival p50 ",
                         result.stdout, re.MULTILINE)
    assert numbers["dead_webhook_attempts"] >= 1
    assert numbers["detected_fps_with_sinks"] > 0 and numbers["detected_fps_without_sinks"] > 0
