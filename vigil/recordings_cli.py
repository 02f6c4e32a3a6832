"""The `vigil recordings list` and `vigil export` commands: what was recorded, and a time range as one MP4."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tqdm import tqdm

from alerts import AlertStore
from alerts.footage import NoFootage, assemble
from alerts.recordings import RecordingIndex
from vigil.alerts_cli import parse_moment
from vigil.config import ConfigError, load_config, report_problems
from vigil.stores import open_store

EXIT_NO_FOOTAGE = 1
MAX_EXPORT = timedelta(hours=24)
"""Longest range one export may cover."""


def _open(args: argparse.Namespace) -> tuple[AlertStore, RecordingIndex] | int:
    """The store and the recordings index of the config's site, or the exit status of a bad config or camera."""
    try:
        config = load_config(args.config)
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    if args.camera not in config.cameras:
        return report_problems(args.config, [f"--camera: no camera {args.camera!r}; the cameras are "
                                             f"{', '.join(config.cameras)}"])
    store = open_store(config)
    return store, RecordingIndex(store.engine, Path(config.storage.recordings_dir))


def _list(args: argparse.Namespace) -> int:
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    store, index = opened
    try:
        since = args.since or datetime(1970, 1, 1, tzinfo=UTC)
        recordings = index.between(args.camera, since, datetime.now(UTC) + timedelta(days=1))
    finally:
        store.close()
    if args.json:
        json.dump([{**r.record(), "path": str(index.file(r))} for r in recordings], sys.stdout, indent=2)
        print()
        return 0
    print(f"{'start (UTC)':<24} {'end (UTC)':<24} {'bytes':>10}  path")
    for r in recordings:
        print(f"{r.start:%Y-%m-%dT%H:%M:%S.%f}"[:23] + "Z", f"{r.end:%Y-%m-%dT%H:%M:%S.%f}"[:23] + "Z",
              f"{r.bytes:>10}", "", index.file(r))
    print(f"{len(recordings)} segment(s), {sum(r.bytes for r in recordings) / 1e6:.1f} MB", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.to <= args.start:
        print(f"--to {args.to.isoformat()} must be after --from {args.start.isoformat()}", file=sys.stderr)
        return 2
    if args.to - args.start > MAX_EXPORT:
        print(f"one export covers at most {MAX_EXPORT.total_seconds() / 3600:g} hours; split the range", file=sys.stderr)
        return 2
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; pass --force to replace it", file=sys.stderr)
        return 2
    if not args.output.parent.is_dir():
        print(f"{args.output.parent} is not a folder", file=sys.stderr)
        return 2
    opened = _open(args)
    if isinstance(opened, int):
        return opened
    store, index = opened

    try:
        with tqdm(unit="segment", desc=f"export {args.camera}", file=sys.stderr, disable=None) as bar:
            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            footage = assemble(index, args.camera, args.start, args.to, args.output, progress=advance)
    except NoFootage as error:
        print(error, file=sys.stderr)
        return EXIT_NO_FOOTAGE
    finally:
        store.close()
    print(f"{footage.path}: {args.camera} from {footage.start.isoformat()} to {footage.end.isoformat()} "
          f"({footage.duration_s:.1f} s, {footage.segments} segment(s); it starts on the keyframe at or before --from)")
    return 0


def add_recordings_commands(commands: argparse._SubParsersAction) -> None:
    def config_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-c", "--config", type=Path, default=Path("config.yaml"),
                            help="config file (default: config.yaml)")
        parser.add_argument("--camera", required=True, help="camera name, as in the config")

    recordings = commands.add_parser("recordings", help="the recorded segments of a camera")
    actions = recordings.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="each segment's start, end, bytes and file")
    config_option(listing)
    listing.add_argument("--since", type=parse_moment, help="ISO 8601 time (UTC if no zone) or 30m, 24h, 7d ago")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_list)

    export = commands.add_parser("export", help="a time range of a camera's recordings as one MP4 (no re-encode)")
    config_option(export)
    export.add_argument("--from", dest="start", required=True, type=parse_moment,
                        help="ISO 8601 time (UTC if no zone) or 30m, 24h, 7d ago")
    export.add_argument("--to", required=True, type=parse_moment, help="as --from")
    export.add_argument("-o", "--output", required=True, type=Path, help="the MP4 file to write")
    export.add_argument("--force", action="store_true", help="replace the output file if it exists")
    export.set_defaults(handler=_export)
