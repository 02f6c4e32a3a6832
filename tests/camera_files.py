"""Video files as cameras send them, made with the ffmpeg command line, and what ffprobe reads in a file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def camera_like(source: Path, target: Path, seconds: float | None = None, scale: str | None = None) -> Path:
    """`source` as an IP camera sends video: H.264, a keyframe a second (10 fps), optionally cut and scaled."""
    command = ["ffmpeg", "-v", "error", "-i", str(source)]
    command += ["-t", str(seconds)] if seconds is not None else []
    command += ["-vf", f"scale={scale}"] if scale is not None else []
    subprocess.run([*command, "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
                    str(target)], check=True, timeout=120)
    return target


def ffprobe(path: Path | str) -> dict:
    """The first stream's codec, pixel format, size, frame rate and packet count, and the file's duration."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-count_packets", "-show_entries",
         "format=duration:stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_packets", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, f"ffprobe cannot read {path}: {result.stderr}"
    info = json.loads(result.stdout)
    return {**info["streams"][0], "duration": float(info["format"]["duration"])}
