"""The pipeline's memory does not grow with the clips' pre-roll: no frames are held for clips any more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.camera_files import camera_like
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

MB = 1_000_000


def grown(clip: Path, folder: Path, pre_s: float, exports: Path) -> int:
    """RSS growth of a pipeline, in a process of its own, over a run of `clip` read at detector speed."""
    result = subprocess.run([sys.executable, "-m", "tests.pipeline_memory", str(clip), str(folder), str(pre_s),
                             str(exports)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return int(result.stdout.split()[-1])


def test_rss_does_not_grow_with_pre_s(sample_video: Path, tmp_path: Path, shared_exports: Path) -> None:
    clip = camera_like(sample_video, tmp_path / "lobby-720p.mp4", seconds=4, scale="960:720")
    long_pre_roll = grown(clip, tmp_path / "pre-60", 60, shared_exports)
    short_pre_roll = grown(clip, tmp_path / "pre-1", 1, shared_exports)
    # A ring of 60 s of frames at the detect rate would hold all 20 detected frames of this clip: 20 x 2.1 MB.
    assert long_pre_roll < short_pre_roll + 30 * MB, (long_pre_roll / MB, short_pre_roll / MB)
