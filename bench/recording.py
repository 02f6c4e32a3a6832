"""What recording a camera costs (CPU, disk, memory) by stream copy, against the alert-clip path it replaced.

N H.264 cameras (the sample video scaled to 720p or 1080p, 10 fps, a keyframe a second) are served by the
GStreamer RTSP test server without re-encoding, so the server costs almost nothing. In this process, one after
the other on the same streams, for the same time after a warm-up:

- recording: one `CameraRecorder` per camera, remuxing packets into MP4 segments (no decode);
- clip path: the removed alerts/clips.py path: decode every frame, BGR at the detect rate (5 fps), a ring of
  3 s of those frames, and a clip of 3 s before + 3 s after a simulated alert (every 30 s) encoded with libx264;
- decode only: the decode and BGR part of the clip path, which detection needs anyway on a camera without a
  sub-stream; the clip path minus this is what its ring and clips cost.

CPU is this process's CPU time over the window, per camera, in % of one core; RSS is the peak growth over the
window from the RSS before the run, per camera, with the heap freed during warm-up (stream probing) given back
to the OS first.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import psutil

from streamer.recorder import CameraRecorder, RecorderSettings
from streamer.sampling import DetectRateSampler
from streamer.segments import RecordedSegment
from streamer.source import VideoStream

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # the RTSP test server's helper lives in tests/, which is not an installed package
from tests.rtsp import RtspServer  # noqa: E402

SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"
SOURCE_CACHE = ROOT / "data" / "bench-recording"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "180p": (320, 180)}
SOURCE_CRF = 23
DETECT_FPS = 5.0
PRE_S = POST_S = 3.0
CLIP_X264_OPTIONS = {"preset": "veryfast", "crf": "28", "tune": "zerolatency"}
"""What the removed alerts/clips.py encoded with."""
READY_TIMEOUT_S = 30.0
RSS_EVERY_S = 0.25
BUSY_MACHINE_CORES = 0.1
"""Other processes busier than this during a run are reported: they compete for the cores and caches."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--resolution", choices=["720p", "1080p"], default="720p")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time of each run, after warm-up")
    parser.add_argument("--warm-up", type=float, default=5.0, help="seconds before each run's window opens")
    parser.add_argument("--segment-s", type=float, default=10.0)
    parser.add_argument("--alert-every-s", type=float, default=30.0, help="the clip path's simulated alert rate")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="a few seconds of one small camera")
    args = parser.parse_args()
    if args.smoke:
        args.cameras, args.resolution, args.seconds, args.warm_up = 1, "180p", 2.0, 1.5
        args.segment_s, args.alert_every_s = 1.0, 2.0
    return args


def make_source(resolution: str, lasting_s: float) -> Path:
    """The sample video as a camera would send it, as often as needed to last `lasting_s`; cached."""
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg command is needed to make the benchmark's H.264 source; install ffmpeg")
    with av.open(str(SAMPLE_VIDEO)) as sample:
        sample_s = float(sample.duration / av.time_base)
    passes = math.ceil(lasting_s / sample_s)
    width, height = SIZES[resolution]
    path = SOURCE_CACHE / f"vtest-{width}x{height}-crf{SOURCE_CRF}-{passes}x.mp4"
    if path.is_file():
        return path
    print(f"making {path.relative_to(ROOT)} ({passes} x {sample_s:.0f} s, once)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-y", "-v", "error", "-stream_loop", str(passes - 1), "-i", str(SAMPLE_VIDEO),
         "-vf", f"scale={width}:{height}", "-r", "10", "-an", "-c:v", "libx264", "-crf", str(SOURCE_CRF),
         # A keyframe a second and no B-frames, as cameras send.
         "-g", "10", "-keyint_min", "10", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", str(part)],
        check=True,
    )
    part.replace(path)
    return path


def source_info(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration_s = float(container.duration / av.time_base)
        return {"path": str(path.relative_to(ROOT)), "codec": stream.codec_context.name, "width": stream.width,
                "height": stream.height, "fps": float(stream.average_rate), "duration_s": duration_s,
                "mbit_s": path.stat().st_size * 8 / duration_s / 1e6}


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def give_back_freed_memory() -> None:
    """Collect garbage and return freed heap to the OS, so one run's leftovers do not hide the next one's RSS."""
    gc.collect()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if hasattr(libc, "malloc_trim"):  # glibc only
        libc.malloc_trim(0)


def measure(workers: list[threading.Thread], ready: Callable[[], bool], stop: Callable[[], None],
            server: psutil.Process, args: argparse.Namespace) -> dict:
    """Start `workers`, warm up until `ready`, measure for `args.seconds`, then `stop` and join them."""
    me = psutil.Process()
    give_back_freed_memory()
    rss_before = me.memory_info().rss
    for worker in workers:
        worker.start()
    warm_until = time.monotonic() + args.warm_up
    while not (ready() and time.monotonic() >= warm_until):
        if time.monotonic() > warm_until + READY_TIMEOUT_S:
            stop()
            sys.exit(f"the cameras were not all running {READY_TIMEOUT_S:g} s after the warm-up")
        time.sleep(0.05)
    give_back_freed_memory()  # what opening the streams (probing them) used and freed
    wall, own, busy, served = time.monotonic(), time.process_time(), machine_busy_s(), server_cpu_s(server)
    peak_rss = me.memory_info().rss
    while time.monotonic() < wall + args.seconds:
        time.sleep(RSS_EVERY_S)
        peak_rss = max(peak_rss, me.memory_info().rss)
    wall, own = time.monotonic() - wall, time.process_time() - own
    served = server_cpu_s(server) - served
    other = max(0.0, machine_busy_s() - busy - own - served)
    stop()
    for worker in workers:
        worker.join(timeout=30)
    cameras = len(workers)
    return {
        "window_s": wall,
        "cpu_percent_per_camera": 100 * own / wall / cameras,
        "rss_mb_per_camera": (peak_rss - rss_before) / 1e6 / cameras,
        "server_cpu_percent_per_camera": 100 * served / wall / cameras,
        "other_processes_cores": other / wall,
    }


def server_cpu_s(server: psutil.Process) -> float:
    times = server.cpu_times()
    return times.user + times.system


def run_recording(urls: list[str], server: psutil.Process, args: argparse.Namespace) -> dict:
    segments: list[RecordedSegment] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-recording-") as root:
        recorders = [
            CameraRecorder(f"cam{i}", RecorderSettings(url, Path(root), segment_s=args.segment_s), segments.append)
            for i, url in enumerate(urls)
        ]

        def stop() -> None:
            for recorder in recorders:
                recorder.stop()

        usage = measure(recorders, lambda: all(r.status().recording for r in recorders), stop, server, args)
        errors = [f"{r.camera}: {r.status().last_error}" for r in recorders if r.status().last_error]
        if errors or not segments:
            sys.exit(f"recording failed: {'; '.join(errors) or 'no segment was written'}")
        recorded_s = sum(s.duration_s for s in segments)
        probed = probe(max(segments, key=lambda s: s.duration_s))
        return {
            **usage,
            "bytes_per_hour_per_camera": sum(s.bytes for s in segments) / recorded_s * 3600,
            "segments": len(segments),
            "recorded_s": recorded_s,
            "reencoding": any(r.status().reencoding for r in recorders),
            "probed_segment": probed,
        }


def probe(segment: RecordedSegment) -> dict:
    """ffprobe's view of a segment: codec, size, duration and packets, read from the file itself."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-of", "json", "-show_entries",
         "stream=codec_name,width,height,nb_read_packets:format=duration", str(segment.path)],
        check=True, capture_output=True, text=True,
    )
    info = json.loads(result.stdout)
    stream = info["streams"][0]
    return {"codec": stream["codec_name"], "width": stream["width"], "height": stream["height"],
            "duration_s": float(info["format"]["duration"]), "packets": int(stream["nb_read_packets"]),
            "indexed_duration_s": segment.duration_s}


class ClipPathCamera(threading.Thread):
    """One camera as the removed clip path handled it; with `clips_dir` None, only its decode and BGR frames.

    Every frame is decoded (one thread, as the reader does), the detect-rate ones converted to BGR and kept in a
    ring of `PRE_S`; from `first_alert` on, every `alert_every_s` a clip of the ring plus `POST_S` of new frames
    is encoded as the clip recorder did, frame by frame as they come.
    """

    def __init__(self, url: str, clips_dir: Path | None, first_alert: float, alert_every_s: float) -> None:
        super().__init__(name=f"clip-path-{url.rsplit('/', 1)[-1]}", daemon=True)
        self.url = url
        self.clips_dir = clips_dir
        self.next_alert = first_alert
        self.alert_every_s = alert_every_s
        self.stopped = threading.Event()
        self.decoded = 0
        self.first_frame_at = self.last_frame_at = 0.0
        self.clips = 0
        self.clip_bytes = 0
        self.error: str | None = None
        self._ring: deque[tuple[float, np.ndarray]] = deque(maxlen=round(PRE_S * DETECT_FPS))
        self._clip: av.container.OutputContainer | None = None
        self._clip_path = Path()
        self._clip_stream: av.video.stream.VideoStream | None = None
        self._clip_first_pts = self._clip_end_pts = 0.0

    def run(self) -> None:
        sampler = DetectRateSampler(DETECT_FPS)
        try:
            with VideoStream(self.url) as stream:
                for pts, frame in stream.frames():
                    self.last_frame_at = time.monotonic()
                    if not self.decoded:
                        self.first_frame_at = self.last_frame_at
                    self.decoded += 1
                    if self.stopped.is_set():
                        break
                    if not sampler.take(pts):
                        continue
                    image = frame.to_ndarray(format="bgr24")
                    if self.clips_dir is not None:
                        self._keep(pts, image)
        except Exception as error:  # reported by the bench, which then fails
            self.error = str(error)
        finally:
            self._close_clip()

    def _keep(self, pts: float, image: np.ndarray) -> None:
        self._ring.append((pts, image))
        if self._clip is None and time.monotonic() >= self.next_alert:
            self.next_alert += self.alert_every_s
            self._open_clip(pts, image)
            for ring_pts, ring_image in self._ring:
                self._encode(ring_pts, ring_image)
        elif self._clip is not None:
            self._encode(pts, image)
            if pts >= self._clip_end_pts:
                self._close_clip()

    def _open_clip(self, pts: float, image: np.ndarray) -> None:
        assert self.clips_dir is not None
        self._clip_path = self.clips_dir / f"{self.name}-{self.clips}.mp4"
        self._clip = av.open(str(self._clip_path), "w", format="mp4", options={"movflags": "+faststart"})
        stream = self._clip.add_stream("libx264", rate=Fraction(DETECT_FPS).limit_denominator(1001),
                                       options=CLIP_X264_OPTIONS)
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        self._clip_stream = stream
        self._clip_first_pts = self._ring[0][0]
        self._clip_end_pts = pts + POST_S

    def _encode(self, pts: float, image: np.ndarray) -> None:
        assert self._clip is not None and self._clip_stream is not None
        picture = av.VideoFrame.from_ndarray(image, format="bgr24")
        picture.pts = round((pts - self._clip_first_pts) * 1000)
        self._clip.mux(self._clip_stream.encode(picture))

    def _close_clip(self) -> None:
        if self._clip is None or self._clip_stream is None:
            return
        self._clip.mux(self._clip_stream.encode(None))
        self._clip.close()
        self.clip_bytes += self._clip_path.stat().st_size
        self.clips += 1
        self._clip = self._clip_stream = None


def run_clip_path(urls: list[str], server: psutil.Process, args: argparse.Namespace, clips: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-clips-") as folder:
        first_alert = time.monotonic() + args.warm_up + args.alert_every_s / 2
        cameras = [ClipPathCamera(url, Path(folder) if clips else None, first_alert, args.alert_every_s)
                   for url in urls]

        def stop() -> None:
            for camera in cameras:
                camera.stopped.set()

        usage = measure(cameras, lambda: all(c.decoded for c in cameras), stop, server, args)
        errors = [f"{c.url}: {c.error}" for c in cameras if c.error]
        if errors:
            sys.exit(f"the clip path failed: {'; '.join(errors)}")
        decoded_fps = [(c.decoded - 1) / (c.last_frame_at - c.first_frame_at) for c in cameras]
        result = {**usage, "decoded_fps_per_camera": sum(decoded_fps) / len(cameras)}
        if clips:
            made = sum(c.clips for c in cameras)
            if not made:
                sys.exit("the clip path wrote no clip")
            result["clips"] = made
            result["bytes_per_clip"] = sum(c.clip_bytes for c in cameras) / made
            result["clip_bytes_per_hour_per_camera"] = result["bytes_per_clip"] * 3600 / args.alert_every_s
        return result


def machine() -> dict:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return {"cpu": cpu or platform.processor(), "cores": os.cpu_count(), "pyav": av.__version__,
            "libavformat": ".".join(map(str, av.library_versions["libavformat"]))}


def main() -> None:
    args = parse_args()
    source = make_source(args.resolution, args.warm_up + args.seconds + 10)
    info = source_info(source)
    label = f"{args.cameras} x {args.resolution}"
    print(f"source: {info['width']}x{info['height']} {info['codec']}, {info['fps']:g} fps, a keyframe a second, "
          f"{info['mbit_s']:.2f} Mbit/s, served by GStreamer without re-encoding", flush=True)
    with RtspServer(source, passthrough=True, mounts=args.cameras) as server:
        served = psutil.Process(server.pid)
        recording = run_recording(server.urls, served, args)
        print(f"recording {label}: {recording['cpu_percent_per_camera']:.1f} % of a core per camera, "
              f"{recording['bytes_per_hour_per_camera'] / 1e9:.2f} GB/hour per camera, "
              f"{recording['rss_mb_per_camera']:.1f} MB RSS per camera", flush=True)
        segment = recording["probed_segment"]
        print(f"  {recording['segments']} segments; ffprobe of one: {segment['codec']} "
              f"{segment['width']}x{segment['height']}, {segment['duration_s']:.1f} s, {segment['packets']} packets",
              flush=True)
        clip_path = run_clip_path(server.urls, served, args, clips=True)
        decode_only = run_clip_path(server.urls, served, args, clips=False)
    ring_and_clips = {
        "cpu_percent_per_camera": clip_path["cpu_percent_per_camera"] - decode_only["cpu_percent_per_camera"],
        "rss_mb_per_camera": clip_path["rss_mb_per_camera"] - decode_only["rss_mb_per_camera"],
    }
    print(f"clip path {label} (decode all, BGR at {DETECT_FPS:g} fps, {PRE_S:g} s ring, a "
          f"{PRE_S + POST_S:g} s clip every {args.alert_every_s:g} s): "
          f"{clip_path['cpu_percent_per_camera']:.1f} % of a core per camera, "
          f"{clip_path['clip_bytes_per_hour_per_camera'] / 1e9:.3f} GB/hour of clips per camera, "
          f"{clip_path['rss_mb_per_camera']:.1f} MB RSS per camera ({clip_path['clips']} clips, "
          f"{clip_path['decoded_fps_per_camera']:.1f} frames/s decoded per camera)")
    print(f"  decode + BGR only (detection needs it without a sub-stream): "
          f"{decode_only['cpu_percent_per_camera']:.1f} % of a core per camera, "
          f"{decode_only['rss_mb_per_camera']:.1f} MB RSS per camera")
    print(f"  ring + clips: {ring_and_clips['cpu_percent_per_camera']:.1f} % of a core per camera, "
          f"{ring_and_clips['rss_mb_per_camera']:.1f} MB RSS per camera")
    ratios = {
        "cpu_vs_clip_path": recording["cpu_percent_per_camera"] / clip_path["cpu_percent_per_camera"],
        "rss_vs_clip_path": recording["rss_mb_per_camera"] / clip_path["rss_mb_per_camera"],
    }
    print(f"recording takes {ratios['cpu_vs_clip_path']:.2f}x the clip path's CPU and "
          f"{ratios['rss_vs_clip_path']:.2f}x its memory")
    runs = {"recording": recording, "clip_path": clip_path, "decode_only": decode_only}
    print("RTSP server (not counted above): " + ", ".join(
        f"{name} {run['server_cpu_percent_per_camera']:.2f} %" for name, run in runs.items())
        + " of a core per camera; other processes: " + ", ".join(
        f"{run['other_processes_cores']:.2f}" for run in runs.values()) + " cores")
    for name, run in runs.items():
        if run["other_processes_cores"] > BUSY_MACHINE_CORES:
            print(f"warning: other processes kept {run['other_processes_cores']:.2f} cores busy during the {name} "
                  "run: its numbers are less reliable")
    info_machine = machine()
    print(f"machine: {info_machine['cpu']}, {info_machine['cores']} cores")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": info_machine, "args": {k: str(v) for k, v in vars(args).items()}, "source": info,
            **runs, "ring_and_clips": ring_and_clips, "ratios": ratios,
        }, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
