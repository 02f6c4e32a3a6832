"""The `vigil` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from streamer.redaction import RedactingFilter
from vigil.alerts_cli import add_alert_commands
from vigil.cluster_cli import add_cluster_commands
from vigil.finetune_cli import add_finetune_commands
from vigil.recordings_cli import add_recordings_commands
from vigil.users_cli import add_user_commands
from vigil.config import ConfigError, VigilConfig, check_rule_classes, load_config, on_cluster, report_problems

log = logging.getLogger("vigil")

_TICK_S = 0.2
_PURGE_INTERVAL_S = 3600.0
"""Retention is applied at start and then hourly."""


def _check_config(args: argparse.Namespace) -> int:
    import detector  # its model classes (torch) load only when a config valid so far needs the model's class names
    from detector.score_profile import load_score_summary
    from detector.weights import WeightsNotFound
    from vigil.threshold_check import threshold_warnings

    try:
        config = load_config(args.path)
        problems = check_rule_classes(config, detector.read_class_names(config.detector.model, config.detector.labels))
    except ConfigError as error:
        problems = error.problems
    except WeightsNotFound as error:
        problems = [str(error)]
    if problems:
        return report_problems(args.path, problems)
    for warning in threshold_warnings(config, load_score_summary(config.storage.score_profile)):
        print(f"warning: {warning}", file=sys.stderr)
    print("OK")
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if args.cluster is not None:
            config = on_cluster(config, args.cluster, args.config)
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    # Imported here, as in every handler that needs them: `vigil user …`, and a bad config, answer without torch.
    from detector.weights import WeightsNotFound
    from finetune.registry import RegistryError
    from vigil.finetune_service import SiteFinetuning
    from vigil.pipeline import Pipeline
    from vigil.retraining import RetrainingSchedule
    from vigil.web import DashboardServer, announce_first_admin, build_dashboard

    try:
        pipeline = Pipeline(config) if config.cluster is None else _cluster_pipeline(config)
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    except (WeightsNotFound, RegistryError) as error:
        return report_problems(args.config, [str(error)])

    stop = _stop_on_signals()
    server = None
    finetuning = SiteFinetuning(pipeline.config, pipeline.store, pipeline.job_launcher())
    schedule = pipeline.config.finetune.schedule
    retraining = None if schedule is None else RetrainingSchedule(schedule, finetuning, datetime.now().astimezone())
    if not args.no_dashboard:
        announce_first_admin(pipeline.store)
        app = build_dashboard(
            pipeline.config, Path(args.config), pipeline.store, pipeline.live, pipeline.dashboard_services(), pipeline,
            finetuning,
        )
        server = DashboardServer(app, pipeline.config.dashboard)
    try:
        pipeline.start()
    except ConfigError as error:  # on a cluster, the model's classes are known once its replicas run
        pipeline.stop()
        return report_problems(args.config, error.problems)
    if server is not None:
        server.start()
    started = time.monotonic()
    next_status = started + pipeline.config.log_interval_s
    next_purge = started + _PURGE_INTERVAL_S
    try:
        while not stop.wait(_TICK_S):
            now = time.monotonic()
            if args.duration is not None and now - started >= args.duration:
                break
            if pipeline.finished():
                log.info("every camera has ended or failed; stopping")
                break
            if retraining is not None:
                retraining.check(datetime.now().astimezone())
            if now >= next_purge:
                next_purge += _PURGE_INTERVAL_S
                pipeline.purge_expired()
            if now >= next_status:
                next_status += pipeline.config.log_interval_s
                for line in pipeline.status_lines():
                    log.info(line)
                pipeline.save_scores()
    finally:
        if server is not None:
            server.stop()
        finetuning.stop()
        pipeline.stop()
    return 0


def _cluster_pipeline(config: VigilConfig):  # -> ClusterPipeline; Ray is imported only for a cluster
    from vigil.cluster.driver import ClusterPipeline

    return ClusterPipeline(config)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(number: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(number).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
    return stop


def _dashboard(args: argparse.Namespace) -> int:
    from vigil.stores import open_store
    from alerts.recordings import RecordingIndex
    from alerts.users import UserStore
    from dashboard import DashboardServices
    from vigil.web import DashboardServer, announce_first_admin, build_dashboard

    try:
        config = load_config(args.config)
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    store = open_store(config)
    announce_first_admin(store)
    recordings = RecordingIndex(store.engine, Path(config.storage.recordings_dir))
    services = DashboardServices(store, UserStore(store.engine), cameras=tuple(config.cameras), recordings=recordings)
    app = build_dashboard(config, Path(args.config), store, services=services)
    server = DashboardServer(app, config.dashboard)
    stop = _stop_on_signals()
    server.start()
    log.info("dashboard alone: alerts and recordings can be reviewed; live video needs `vigil run`")
    stop.wait()
    server.stop()
    store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Real-time video analytics for security cameras.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline on the configured cameras")
    run.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help="config file (default: config.yaml)")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("--no-dashboard", action="store_true", help="run without the web dashboard")
    run.add_argument("--cluster", metavar="ADDRESS",
                     help="run on a Ray cluster: auto, local, ray://HEAD:10001 or HEAD:6379 (overrides cluster.address)")
    run.set_defaults(handler=_run)

    dashboard = commands.add_parser("dashboard", help="serve the dashboard alone, to review alerts")
    dashboard.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help="config file (default: config.yaml)")
    dashboard.set_defaults(handler=_dashboard)

    check = commands.add_parser("check-config", help="validate a config file: prints OK or every problem")
    check.add_argument("path", type=Path)
    check.set_defaults(handler=_check_config)

    add_alert_commands(commands)
    add_user_commands(commands)
    add_finetune_commands(commands)
    add_recordings_commands(commands)
    add_cluster_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
