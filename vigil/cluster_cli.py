"""`vigil cluster status` and `vigil cluster drain`: what a running cluster's coordinator knows, and node hand-over."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vigil.config import ConfigError, load_config, report_problems


def add_cluster_commands(commands: Any) -> None:
    cluster = commands.add_parser("cluster", help="look at or change a running cluster (`vigil run --cluster`)")
    actions = cluster.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="nodes, workers and their cameras, detector replicas, placements")
    drain = actions.add_parser("drain", help="move every camera off a node (each worker ends its alerts first)")
    drain.add_argument("node", help="the node's id (or its start) or address, as `vigil cluster status` lists it")
    for parser in (status, drain):
        parser.add_argument("-c", "--config", type=Path, default=Path("config.yaml"),
                            help="config file (default: config.yaml)")
        parser.add_argument("--address", help="the cluster's address (default: cluster.address of the config)")
    status.set_defaults(handler=_status)
    drain.set_defaults(handler=_drain)


def _coordinator(args: argparse.Namespace) -> Any:
    """The running coordinator, or an exit code after saying why there is none."""
    try:
        config = load_config(args.config)
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    import ray

    from vigil.cluster.coordinator import COORDINATOR

    namespace = config.cluster.namespace if config.cluster else "vigil"
    address = args.address or (config.cluster.ray_address if config.cluster else None) or "auto"
    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError) as error:
        print(f"cannot reach the Ray cluster at {address}: {error}", file=sys.stderr)
        return 2
    try:
        return ray.get_actor(COORDINATOR, namespace=namespace)
    except ValueError:
        print(f"no Vigil coordinator in namespace {namespace!r}: is `vigil run --cluster` running?", file=sys.stderr)
        return 2


def _status(args: argparse.Namespace) -> int:
    coordinator = _coordinator(args)
    if isinstance(coordinator, int):
        return coordinator
    import ray

    from vigil.cluster.status_text import status_text

    print(status_text(ray.get(coordinator.status.remote(), timeout=30)))
    return 0


def _drain(args: argparse.Namespace) -> int:
    coordinator = _coordinator(args)
    if isinstance(coordinator, int):
        return coordinator
    import ray

    status = ray.get(coordinator.status.remote(), timeout=30)
    matches = [n for n in status.nodes if n.node_id.startswith(args.node) or n.address == args.node]
    if len(matches) != 1:
        known = ", ".join(f"{n.node_id[:12]} ({n.address})" for n in status.nodes)
        print(f"{args.node!r} names {len(matches)} of the cluster's nodes: {known}", file=sys.stderr)
        return 2
    moved = ray.get(coordinator.drain.remote(matches[0].node_id), timeout=600)
    print(f"node {matches[0].address} drained: {', '.join(moved) or 'no worker was there'} moved")
    return 0
