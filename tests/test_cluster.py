"""Vigil on a real Ray cluster (a head and two worker nodes on this machine) with a real PostgreSQL server: six file
cameras placed in workers, one detector replica per node, alerts in PostgreSQL with snapshots in the shared media
folder; fine-tuning as a Ray task on a worker node; a node killed and its cameras re-placed; a node that joins
taking its share; a zone edit and the promotion of the fine-tuned model reaching every node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from alerts.site_shapes import CameraShapes
from bench.site_scene import PACKAGE_CLASS, package_scene, write_labelled_clip
from finetune.dataset import SiteDataset
from finetune.importers import import_cvat_video
from finetune.jobs import JobStatus
from tests.conftest import TEST_IMGSZ
from tests.metrics_text import exposition
from vigil.config import VigilConfig, load_config
from vigil.finetune_service import SiteFinetuning
from vigil.stores import open_store, site_registry

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

CAMERAS = [f"cam-{i}" for i in range(6)]
REPLACED_WITHIN_S = 30.0


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `condition` until it returns something true; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        time.sleep(0.5)
    return found


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A head without CPUs and two worker nodes; shared by this module's tests (the first kills and adds nodes)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, namespace="vigil", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def cluster_config(video: Path, shared: Path, database: str) -> dict:
    """Six cameras of the sample scene, two per worker; alerts stay open (clear_after_s) until a move closes them."""
    return {
        "cameras": {name: {"url": str(video), "detect_fps": 2, "realtime": False, "loop": True} for name in CAMERAS},
        "detector": {"model": "default", "imgsz": TEST_IMGSZ, "device": "cpu", "backend": "pytorch", "cpu_threads": 1},
        "rules": [{"name": "seen", "kind": "presence", "classes": ["person"], "min_score": 0.3, "min_duration_s": 0,
                   "cooldown_s": 0, "clear_after_s": 600}],
        "record": {"enabled": False},
        "storage": {"database": database, "state_dir": str(shared / "state"), "media_dir": str(shared / "media"),
                    "recordings_dir": str(shared / "recordings")},
        "finetune": {"models_dir": str(shared / "models"), "datasets_dir": str(shared / "datasets"),
                     "runs_dir": str(shared / "runs"), "epochs": 1, "imgsz": 160, "batch": 4, "device": "cpu"},
        "cluster": {"max_cameras_per_worker": 2, "cpus_per_detector": 2, "spare_workers": 2},
    }


def labelled_clip(video: Path, config: VigilConfig) -> None:
    """A short clip with a package labelled in every frame, imported into the shared `site` dataset."""
    clip = Path(config.finetune.runs_dir) / "clip"
    clip.mkdir(parents=True)
    frames = list(package_scene(video, every=10, start_s=0, end_s=16, seed=3))
    write_labelled_clip(frames, clip / "clip.mp4", clip / "clip.xml", fps=1)
    dataset = SiteDataset.open_or_create(config.finetune.datasets_dir, "site", ["person", "fallen_person"])
    import_cvat_video(dataset, clip / "clip.mp4", clip / "clip.xml", add_classes=[PACKAGE_CLASS], max_bytes=1 << 30)


def alerts(database: str) -> list[dict]:
    engine = create_engine(database)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(text(
            "SELECT a.id, a.camera, a.track_id, a.started_at, a.ended_at, a.snapshot_path, "
            "(SELECT string_agg(note, ' ') FROM alert_actions WHERE alert_id = a.id) AS notes "
            "FROM alerts a ORDER BY a.id"))]
    engine.dispose()
    for row in rows:  # stored as UTC
        for field in ("started_at", "ended_at"):
            row[field] = row[field] and row[field].replace(tzinfo=UTC)
    return rows


@pytest.mark.timeout(600)
def test_cameras_survive_a_lost_node_and_edits_reach_every_node(ray_cluster, postgres, sample_video,
                                                                 tmp_path) -> None:
    from detector.weights import resolve_weights
    from vigil.cluster.driver import ClusterPipeline

    database = postgres.database()
    shared = tmp_path / "shared"  # what every node mounts
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(cluster_config(sample_video, shared, database)))
    config = load_config(config_file)
    pipeline = ClusterPipeline(config)
    pipeline.start()
    try:
        status = pipeline.status()
        assert len(status.nodes) == 2 and len(status.replicas) == 2, "one detector replica on each worker node"
        assert sorted(c for w in status.workers for c in w.cameras) == CAMERAS
        assert all(len(w.cameras) == 2 for w in status.workers)
        assert {w.node_id for w in status.workers} == {n.node_id for n in status.nodes}, "both nodes have cameras"

        # Alerts from every camera reach PostgreSQL, their snapshots in the shared media folder by relative path.
        wait_for(lambda: {a["camera"] for a in alerts(database)} == set(CAMERAS), 150, "an alert from every camera")
        for alert in alerts(database):
            assert not Path(alert["snapshot_path"]).is_absolute()
            assert (shared / "media" / alert["snapshot_path"]).is_file()

        # A model promotion and a zone edit reach every node without a restart.
        registry = site_registry(config, pipeline.store)
        candidate = registry.add(Path(resolve_weights("default")), parent="base").version  # the same weights
        registry.promote(candidate, "cluster test")
        wait_for(lambda: {r.model for r in pipeline.status().replicas} == {candidate}, 60,
                 "every replica serving the promoted model")
        shown = subprocess.run([sys.executable, "-m", "vigil", "cluster", "status", "-c", str(config_file),
                                "--address", ray_cluster.address], capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr[-2000:]
        for worker in status.workers:
            assert f"{worker.name} on " in shown.stdout and ", ".join(worker.cameras) in shown.stdout
        assert "nodes (2):" in shown.stdout and "detector replicas (2):" in shown.stdout, shown.stdout
        assert f"model {candidate}" in shown.stdout
        scraped = exposition(pipeline.dashboard_services().metrics)  # what /metrics serves for the cluster
        series = {(s.name, s.labels.get("worker")) for f in text_string_to_metric_families(scraped) for s in f.samples}
        assert {("vigil_camera_worker_overflow_total", w.name) for w in status.workers} <= series, scraped
        assert ("vigil_replica_frames_total", None) in series and ("vigil_detector_frames_total", None) not in series
        driver_node = ray.get_runtime_context().get_node_id()
        victim = next(node for node in ray_cluster.worker_nodes if node.node_id != driver_node)
        moving = {c for w in pipeline.status().workers if w.node_id == victim.node_id for c in w.cameras}
        edited = sorted(moving)[0]
        fence = CameraShapes(zones={"fence": [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]})
        pipeline.shapes.replace(edited, fence)

        # Kill one worker node: its cameras are placed on the other within 30 s and their alerts go on.
        before = alerts(database)
        killed_at = datetime.now(UTC)
        ray_cluster.remove_node(victim, allow_graceful=False)  # its processes are killed
        lost_workers = {w.name for w in status.workers if w.node_id == victim.node_id}
        moves = wait_for(lambda: [c for c in pipeline.status().history if c.reason == "node lost"]
                         if {c.worker for c in pipeline.status().history if c.reason == "node lost"} == lost_workers
                         else None, 60, "the lost node's workers placed again")
        for move in moves:
            assert (move.at - killed_at).total_seconds() < REPLACED_WITHIN_S, move
        survivors = {n.node_id for n in pipeline.status().nodes}
        assert survivors and victim.node_id not in survivors
        owner = ray.get(pipeline.coordinator.owner_of.remote(edited))
        assert ray.get(owner.shapes_of.remote(edited)) == fence, "the zone edit followed the camera to its new node"

        moved_at = max(move.at for move in moves)
        wait_for(lambda: moving <= {a["camera"] for a in alerts(database) if a["started_at"] > moved_at}, 120,
                 "new alerts from every moved camera")
        health = pipeline.health()
        assert all(health[camera].state == "streaming" for camera in CAMERAS), health

        # A node joins: it gets a replica and a worker, handed over by a worker that ends its alerts first.
        before_join = alerts(database)
        ray_cluster.add_node(num_cpus=2)
        [handover] = wait_for(lambda: [c for c in pipeline.status().history if c.reason == "rebalance"], 90,
                              "a worker moved to the node that joined")
        wait_for(lambda: len(pipeline.status().nodes) == len(pipeline.status().replicas) == 2, 30,
                 "the node that joined listed with its replica")
        handed = set(handover.cameras)
        wait_for(lambda: handed <= {a["camera"] for a in alerts(database) if a["started_at"] > handover.at}, 120,
                 "new alerts from the cameras handed over")
    finally:
        pipeline.stop()

    stored = alerts(database)
    open_at_kill = [a for a in before if a["camera"] in moving and a["ended_at"] is None]
    assert open_at_kill, "the moved cameras had alerts open when their node was lost"
    for alert in stored:
        if alert["id"] in {a["id"] for a in open_at_kill}:
            assert alert["ended_at"] is not None and "was lost" in (alert["notes"] or ""), alert
    assert not [a for a in stored if a["ended_at"] is None], "a stop ends every alert"
    # None lost or duplicated: each camera's track has one alert at a time, and every alert stored before the
    # kill is still there.
    by_track: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for alert in stored:
        by_track[(alert["camera"], alert["track_id"])].append(alert)
    for (camera, track), track_alerts in by_track.items():
        spans = sorted((a["started_at"], a["ended_at"]) for a in track_alerts)
        assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), (camera, track, spans)
    assert {a["id"] for a in before} <= {a["id"] for a in stored}
    assert {a["camera"] for a in stored if a["started_at"] > killed_at} >= moving
    handed_open = {a["id"] for a in before_join if a["camera"] in handed and a["ended_at"] is None}
    assert handed_open, "the cameras handed over had alerts open"
    for alert in stored:  # a hand-over ends its alerts itself: no one had to close them
        if alert["id"] in handed_open:
            assert alert["ended_at"] <= handover.at and not alert["notes"], alert


@pytest.mark.timeout(300)
def test_fine_tuning_runs_as_a_ray_task_on_a_worker_node_and_registers_its_candidate(ray_cluster, postgres,
                                                                                    sample_video, tmp_path) -> None:
    from vigil.cluster.training import RayJobLauncher

    shared = tmp_path / "shared"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(cluster_config(sample_video, shared, postgres.database())))
    config = load_config(config_file)
    labelled_clip(sample_video, config)
    store = open_store(config)
    finetuning = SiteFinetuning(config, store, RayJobLauncher(config.storage.database))
    try:
        job_id = finetuning.start("site", feedback=False, requested_by="cluster test", promote=False)
        assert finetuning.runner.wait(job_id, timeout=240) == 0
    finally:
        finetuning.stop()
    job = finetuning.jobs.get(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.process.pid != os.getpid(), job.error
    ran_on = re.search(r"runs as a Ray task on node (\w+)", (shared / "runs" / f"job-{job_id}.log").read_text())
    worker_nodes = {node.node_id for node in ray_cluster.worker_nodes}
    assert ran_on and ran_on[1] in worker_nodes, "on a worker node (the head has no CPUs to give it)"
    candidate = finetuning.registry.get(job.result["version"])
    assert candidate.classes == ["person", "fallen_person", PACKAGE_CLASS] and Path(candidate.weights).is_file()
    assert finetuning.registry.live().version == "base", "registered, not promoted: the job was asked not to"
    store.close()
