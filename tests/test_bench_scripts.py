"""Every benchmark script starts the way the README runs it (`python bench/NAME.py`) and finishes a tiny run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text())
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]


def test_no_bench_script_shadows_a_vigil_package() -> None:
    """`python bench/x.py` puts bench/ first on sys.path: a bench/finetune.py would hide the finetune package."""
    packages = {name.rstrip("*") for name in PACKAGES}
    assert SCRIPTS, "the benchmark scripts were found"
    assert not [p.name for p in (ROOT / "bench").glob("*.py") if p.stem in packages]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_bench_script_runs_its_smoke_mode(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--smoke"], cwd=ROOT, capture_output=True, text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a benchmark prints its numbers"
