"""Re-encode a sample video as an IP camera would send it: H.264, a keyframe every second (for the demo camera).

Run as `python -m vigil.sample_video IN OUT`; the demo's file camera can then be recorded by stream copy.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av


def camera_like(source: Path, target: Path) -> None:
    """Write `source` to `target` as H.264 MP4 at the same size and rate, one keyframe per second."""
    part = target.with_name(target.name + ".part")
    with av.open(str(source)) as reader, av.open(str(part), "w", format="mp4") as writer:
        video = reader.streams.video[0]
        rate = video.average_rate or Fraction(10)
        encoded = writer.add_stream("libx264", rate=rate, options={
            "preset": "fast", "crf": "20", "g": str(round(rate)), "bf": "0", "sc_threshold": "0",
        })
        encoded.width, encoded.height = video.width - video.width % 2, video.height - video.height % 2
        encoded.pix_fmt = "yuv420p"
        for frame in reader.decode(video):
            frame.pts = None
            writer.mux(encoded.encode(frame.reformat(encoded.width, encoded.height, "yuv420p")))
        writer.mux(encoded.encode(None))
    part.replace(target)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m vigil.sample_video IN OUT")
    camera_like(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"Sample camera video ready: {sys.argv[2]}")
