"""How soon an alert reaches people: from the frame that raised it to its arrival over MQTT, a webhook and Apprise.

The real pipeline runs on the sample video (a live-paced file camera) with a presence rule, in this process, with
a Mosquitto broker and HTTP receivers on 127.0.0.1, and a second webhook that answers 503 to everything (a dead
sink). For every alert stored, the latency is each receiver's arrival time of its `alert.started` minus the
alert's `started_at` (the wall time of the frame that raised it): detection, rules, snapshot, the store's commit,
the outbox and the send, all included. Then the same run without any sink, for the pipeline's own rate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from alerts.store import AlertStore
from vigil.config import load_config
from vigil.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # the test servers' helpers live in tests/, which is not an installed package
from tests.notify_servers import HttpReceiver, Mosquitto, Subscriber  # noqa: E402

SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"
MODELS = ROOT / "data" / "bench-models"
"""Kept between runs by default: the detector's export is made once."""
SECRET = "bench-webhook-secret-0123456789"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="video time per run")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--models", type=Path, default=MODELS, help="the model registry (its exports are reused)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="a few seconds at a small size, to check the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.imgsz = 4.0, 416
    return args


def config_document(folder: Path, models: Path, imgsz: int, notify: dict | None) -> dict:
    document = {
        "cameras": {"lobby": {"url": str(SAMPLE_VIDEO), "detect_fps": 5, "realtime": True}},
        "detector": {"model": "default", "imgsz": imgsz, "device": "cpu"},
        "rules": [{"name": "person-seen", "kind": "presence", "classes": ["person"], "min_score": 0.3,
                   "min_duration_s": 0.5, "cooldown_s": 2, "severity": "warning"}],
        "record": {"enabled": False},
        "storage": {"database": str(folder / "vigil.db"), "media_dir": str(folder / "media")},
        "finetune": {"models_dir": str(models)},
    }
    if notify is not None:
        document["notify"] = notify
    return document


def run(folder: Path, args: argparse.Namespace, notify: dict | None) -> tuple[Pipeline, float]:
    """Run the pipeline for `args.seconds` (or until the video ends); returns it and its detected frames a second."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config_document(folder, args.models, args.imgsz, notify)))
    pipeline = Pipeline(load_config(path))
    pipeline.start()
    started = time.monotonic()
    while time.monotonic() - started < args.seconds and not pipeline.finished():
        time.sleep(0.5)
    fps = sum(b.stats.frames for b in pipeline.detection.batchers) / (time.monotonic() - started)
    pipeline.stop()
    return pipeline, fps


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {"count": len(values), "p50_s": statistics.median(ordered),
            "p95_s": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], "max_s": ordered[-1]}


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-notify-") as temp:
        folder = Path(temp)
        (folder / "with").mkdir()
        (folder / "without").mkdir()
        broker = Mosquitto(folder).start()
        hook, dead, phone = HttpReceiver(), HttpReceiver(fail_first=10**9), HttpReceiver()
        watcher = Subscriber(broker.port, ("vigil/events",))
        received_at: dict[str, dict[str, float]] = {"mqtt": {}, "webhook": {}, "apprise": {}}
        notify = {
            "mqtt": {"url": broker.url},
            "webhooks": [{"url": f"{hook.url}/hook", "secret": SECRET, "events": ["alert.started"], "name": "hook"},
                         {"url": f"{dead.url}/dead", "secret": SECRET, "name": "dead"}],
            "apprise": [{"url": f"json://127.0.0.1:{phone.url.rsplit(':', 1)[1]}/phone", "name": "phone"}],
        }
        print(f"pipeline with sinks: {args.seconds:g} s of {SAMPLE_VIDEO.name} at imgsz {args.imgsz}", flush=True)
        _, fps_with = run(folder / "with", args, notify)
        for message, arrived in zip(watcher.messages, watcher.arrived_at, strict=True):
            event = json.loads(message.payload)
            if event["event"] == "alert.started":
                received_at["mqtt"].setdefault(event["alert"]["key"], arrived)
        for status, request in hook.answered:
            event = json.loads(request.body)
            if status == 200:
                received_at["webhook"].setdefault(event["alert"]["key"], request.at)
        for _, request in phone.answered:
            body = json.loads(request.body)
            received_at["apprise"].setdefault(body["message"].rsplit("/alerts/", 1)[-1], request.at)
        store = AlertStore(folder / "with" / "vigil.db")
        alerts = store.list_alerts(limit=None)
        store.close()
        dead_requests = len(dead.answered)
        broker.kill()
        for receiver in (hook, dead, phone):
            receiver.close()
        print(f"pipeline without sinks: {args.seconds:g} s", flush=True)
        _, fps_without = run(folder / "without", args, None)
    latency = {
        "mqtt": [received_at["mqtt"][a.key] - a.started_at.timestamp() for a in alerts if a.key in received_at["mqtt"]],
        "webhook": [received_at["webhook"][a.key] - a.started_at.timestamp() for a in alerts
                    if a.key in received_at["webhook"]],
        "apprise": [received_at["apprise"][str(a.id)] - a.started_at.timestamp() for a in alerts
                    if str(a.id) in received_at["apprise"]],
    }
    results = {
        "alerts": len(alerts),
        "latency": {sink: percentiles(values) for sink, values in latency.items()},
        "dead_webhook_attempts": dead_requests,
        "detected_fps_with_sinks": fps_with,
        "detected_fps_without_sinks": fps_without,
        "imgsz": args.imgsz,
        "seconds": args.seconds,
    }
    results["fps_ratio"] = results["detected_fps_with_sinks"] / max(results["detected_fps_without_sinks"], 1e-9)
    print(f"alerts stored: {len(alerts)}")
    for sink, numbers in results["latency"].items():
        if numbers["count"]:
            print(f"{sink}: {numbers['count']}/{len(alerts)} delivered, frame to arrival p50 {numbers['p50_s']:.2f} s "
                  f"p95 {numbers['p95_s']:.2f} s max {numbers['max_s']:.2f} s")
        else:
            print(f"{sink}: 0/{len(alerts)} delivered")
    print(f"dead webhook: {dead_requests} attempts refused, the others unaffected")
    print(f"frames detected per second: {results['detected_fps_with_sinks']:.2f} with sinks, "
          f"{results['detected_fps_without_sinks']:.2f} without (ratio {results['fps_ratio']:.2f})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
