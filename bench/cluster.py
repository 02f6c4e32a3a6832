"""Vigil on a Ray cluster of simulated nodes on this machine: frames/s and cameras per node against the number of
nodes, the placement time after a node is killed, and the embedded pipeline on the same cameras as the base.

Each run starts a real PostgreSQL server and a `ray.cluster_utils.Cluster` (a head without CPUs, N worker nodes),
then `ClusterPipeline` on live-paced file cameras of the sample video, `--cameras-per-node` per node. It waits for
every camera to stream, counts the frames detected over `--seconds`, then kills one worker node (not the driver's)
and times how long until the coordinator has its workers running on the survivors, and until every camera streams
again. The nodes share this machine's cores, so more nodes add no compute here: the numbers show the cluster's
overhead and fail-over, not its scaling (see the README for what scales on real machines).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import ray
import yaml
from ray.cluster_utils import Cluster

from vigil.cluster.driver import ClusterPipeline
from vigil.config import load_config
from vigil.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # the PostgreSQL helper lives in tests/, which is not an installed package
from tests.postgres import PostgresServer  # noqa: E402

SAMPLE_VIDEO = ROOT / "data" / "samples" / "vtest.avi"
MODELS = ROOT / "data" / "bench-models"
"""Kept between runs by default: the detector's export is made once."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3], help="worker nodes per run")
    parser.add_argument("--cameras-per-node", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long frames are counted")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--detect-fps", type=float, default=5.0)
    parser.add_argument("--backend", default="auto", help="detector.backend (auto: OpenVINO on a CPU)")
    parser.add_argument("--spare-workers", type=int, default=1, help="cluster.spare_workers (spares per node)")
    parser.add_argument("--models", type=Path, default=MODELS, help="the model registry (its exports are reused)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--verbose", action="store_true", help="show the actors' logs (placement, replicas)")
    parser.add_argument("--smoke", action="store_true", help="one node, briefly, to check the script runs")
    args = parser.parse_args()
    if args.smoke:
        # One node: the script's path, quickly (tests/test_cluster.py kills and adds nodes).
        args.nodes, args.seconds, args.imgsz, args.cameras_per_node, args.backend = [1], 4.0, 320, 1, "pytorch"
        args.spare_workers = 0  # nothing is killed: a spare would only cost a process
    return args


def config_document(folder: Path, database: str, cameras: int, args: argparse.Namespace) -> dict:
    """Live-paced cameras of the sample video; each simulated node (2 logical CPUs) gets one detector replica."""
    return {
        "cameras": {f"cam-{i}": {"url": str(SAMPLE_VIDEO), "detect_fps": args.detect_fps, "realtime": True,
                                 "loop": True} for i in range(cameras)},
        "detector": {"model": "default", "imgsz": args.imgsz, "device": "cpu", "backend": args.backend},
        "rules": [{"name": "person-seen", "kind": "presence", "classes": ["person"], "min_score": 0.3}],
        "record": {"enabled": False},
        "storage": {"database": database, "state_dir": str(folder / "state"), "media_dir": str(folder / "media")},
        "finetune": {"models_dir": str(args.models)},
        "cluster": {"max_cameras_per_worker": args.cameras_per_node, "cpus_per_detector": 2,
                    "spare_workers": args.spare_workers},
    }


def frames_out(pipeline: Pipeline | ClusterPipeline) -> int:
    health = pipeline.health() if isinstance(pipeline, ClusterPipeline) else pipeline.health.snapshot()
    return sum(h.frames_out for h in health.values())


def all_streaming(pipeline: Pipeline | ClusterPipeline) -> bool:
    health = pipeline.health() if isinstance(pipeline, ClusterPipeline) else pipeline.health.snapshot()
    return bool(health) and all(h.state == "streaming" and h.frames_out > 0 for h in health.values())


def wait(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def measure_rate(pipeline: Pipeline | ClusterPipeline, seconds: float) -> float:
    if not wait(lambda: all_streaming(pipeline), 300):
        raise SystemExit("not every camera streamed within 300 s")
    start_frames, started = frames_out(pipeline), time.monotonic()
    time.sleep(seconds)
    return (frames_out(pipeline) - start_frames) / (time.monotonic() - started)


def embedded_run(folder: Path, database: str, args: argparse.Namespace) -> float:
    """The same cameras as one node has, in one process: the base the cluster's numbers are read against."""
    document = config_document(folder, database, args.cameras_per_node, args)
    del document["cluster"]
    document["storage"]["database"] = str(folder / "embedded.db")
    path = folder / "embedded.yaml"
    path.write_text(yaml.safe_dump(document))
    pipeline = Pipeline(load_config(path))
    pipeline.start()
    try:
        return measure_rate(pipeline, args.seconds)
    finally:
        pipeline.stop()


def cluster_run(folder: Path, database: str, nodes: int, args: argparse.Namespace) -> dict:
    cameras = nodes * args.cameras_per_node
    threads = max(1, 2 // nodes)  # the machine's two cores, shared among the simulated nodes' replicas
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cluster-{nodes}.yaml"
    document = config_document(folder, database, cameras, args)
    document["detector"]["cpu_threads"] = threads
    path.write_text(yaml.safe_dump(document))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(nodes):
        cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, namespace="vigil", log_to_driver=args.verbose)
    started = time.monotonic()
    pipeline = ClusterPipeline(load_config(path))
    try:
        pipeline.start()
        start_s = time.monotonic() - started
        rate = measure_rate(pipeline, args.seconds)
        result = {"nodes": nodes, "cameras": cameras, "cameras_per_node": args.cameras_per_node,
                  "start_s": round(start_s, 1), "frames_per_s": round(rate, 2),
                  "frames_per_s_per_camera": round(rate / cameras, 2)}
        if nodes >= 2:
            result |= kill_a_node(cluster, pipeline)
        return result
    finally:
        pipeline.stop()
        ray.shutdown()
        cluster.shutdown()


def kill_a_node(cluster: Cluster, pipeline: ClusterPipeline) -> dict:
    driver_node = ray.get_runtime_context().get_node_id()
    victim = next(node for node in cluster.worker_nodes if node.node_id != driver_node)
    lost = {w.name for w in pipeline.status().workers if w.node_id == victim.node_id}
    killed_at, killed = datetime.now(UTC), time.monotonic()
    cluster.remove_node(victim, allow_graceful=False)

    def moved() -> list:
        history = [c for c in pipeline.status().history if c.reason == "node lost"]
        return history if {c.worker for c in history} >= lost else []

    if not wait(moved, 120):
        return {"placed_after_kill_s": None}
    placed_s = max((c.at - killed_at).total_seconds() for c in moved())
    wait(lambda: all_streaming(pipeline), 120)
    return {"placed_after_kill_s": round(placed_s, 1), "streaming_after_kill_s": round(time.monotonic() - killed, 1)}


def main() -> int:
    args = parse_args()
    server = PostgresServer().start()
    results: dict = {"imgsz": args.imgsz, "detect_fps": args.detect_fps, "seconds": args.seconds, "runs": []}
    try:
        with tempfile.TemporaryDirectory() as temporary:
            folder = Path(temporary)
            base = embedded_run(folder, server.database(), args)
            results["embedded_frames_per_s"] = round(base, 2)
            print(f"embedded, {args.cameras_per_node} camera(s): {base:.2f} frames/s", flush=True)
            for nodes in args.nodes:
                run = cluster_run(folder / f"n{nodes}", server.database(), nodes, args)
                run["ratio_to_embedded_per_node"] = round(run["frames_per_s"] / nodes / base, 2) if base else None
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
    finally:
        server.stop()
    print(f"{'nodes':>5} {'cameras':>7} {'frames/s':>9} {'per camera':>10} {'vs embedded/node':>16} "
          f"{'start s':>7} {'placed after kill s':>19}")
    for run in results["runs"]:
        placed = run.get("placed_after_kill_s")
        print(f"{run['nodes']:>5} {run['cameras']:>7} {run['frames_per_s']:>9.2f} "
              f"{run['frames_per_s_per_camera']:>10.2f} "
              f"{run['ratio_to_embedded_per_node']:>16.2f} {run['start_s']:>7.1f} "
              f"{'-' if placed is None else f'{placed:.1f}':>19}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
