"""The `vigil alerts` commands: list and export stored alerts."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from alerts import Alert, AlertStatus, Severity
from alerts.utc import utc_text
from vigil.config import ConfigError, load_config, report_problems
from vigil.stores import open_store

EXIT_CANNOT_WRITE = 1
_DURATION = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet run a cell as a formula (OWASP's CSV injection list)."""
_TABLE_HEADER = ("id", "started_at", "camera", "rule", "kind", "label", "track", "score", "severity", "status", "ended")
_RECORD_FIELDS = (
    "id", "camera", "rule", "kind", "label", "track_id", "score", "severity", "status", "started_at", "ended_at",
    "box", "zone", "line", "count", "snapshot_path", "clip_path", "details",
)


def parse_moment(text: str) -> datetime:
    """An aware UTC time from ISO 8601 (naive means UTC) or a duration before now: `30m`, `24h`, `7d`."""
    if duration := _DURATION.fullmatch(text):
        return datetime.now(UTC) - timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        problem = f"{text!r} is neither an ISO 8601 time nor a duration like 30m, 24h, 7d"
        raise argparse.ArgumentTypeError(problem) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _record(alert: Alert) -> dict[str, Any]:
    """Every stored field as JSON-ready values, in `_RECORD_FIELDS` order; times ISO 8601 with their offset."""
    record = alert.record() | {"snapshot_path": alert.snapshot_path, "clip_path": alert.clip_path}
    return {name: record[name] for name in _RECORD_FIELDS}


def _table(alerts: Sequence[Alert]) -> str:
    rows = [_TABLE_HEADER] + [
        (
            str(a.id),
            utc_text(a.started_at),
            a.camera,
            a.rule,
            a.kind,
            a.label,
            str(a.track_id),
            f"{a.score:.2f}",
            str(a.severity),
            str(a.status),
            utc_text(a.ended_at),
        )
        for a in alerts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_TABLE_HEADER))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _write_csv(alerts: Sequence[Alert], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=_RECORD_FIELDS)
    writer.writeheader()
    for alert in alerts:
        writer.writerow({name: _csv_cell(value) for name, value in _record(alert).items()})


def _write_json(alerts: Sequence[Alert], out: TextIO) -> None:
    json.dump([_record(a) for a in alerts], out, indent=2, ensure_ascii=False)
    out.write("\n")


def _query(config_path: Path, **filters: Any) -> list[Alert]:
    """The alerts matching `filters` in the database the config names."""
    store = open_store(load_config(config_path))
    try:
        return store.list_alerts(**filters)
    finally:
        store.close()



def _list(args: argparse.Namespace) -> int:
    try:
        alerts = _query(
            args.config,
            camera=args.camera,
            rule=args.rule,
            status=args.status,
            severity=args.severity,
            since=args.since,
            until=args.until,
            limit=args.limit,
        )
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    if args.json:
        _write_json(alerts, sys.stdout)
    else:
        print(_table(alerts))
    return 0


def _export(args: argparse.Namespace) -> int:
    try:
        oldest_first = _query(args.config, since=args.since, until=args.until, limit=None)[::-1]
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    write = _write_csv if args.format == "csv" else _write_json
    if args.output is None:
        write(oldest_first, sys.stdout)
        return 0
    try:
        with args.output.open("w", newline="", encoding="utf-8") as out:
            write(oldest_first, out)
    except OSError as error:
        print(f"{args.output}: cannot write: {error.strerror}", file=sys.stderr)
        return EXIT_CANNOT_WRITE
    return 0


def add_alert_commands(commands: argparse._SubParsersAction) -> None:
    """Register `alerts list` and `alerts export` on the `vigil` parser's subcommands."""
    alerts = commands.add_parser("alerts", help="list or export stored alerts")
    actions = alerts.add_subparsers(dest="alerts_command", required=True)
    config_help = "config file naming the database (default: config.yaml)"
    time_help = "ISO 8601 (naive means UTC) or a duration before now: 30m, 24h, 7d"

    listing = actions.add_parser("list", help="the newest alerts first, as a table (UTC times) or JSON")
    listing.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help=config_help)
    listing.add_argument("--camera")
    listing.add_argument("--rule")
    listing.add_argument("--status", choices=[s.value for s in AlertStatus])
    listing.add_argument("--severity", choices=[s.value for s in Severity])
    listing.add_argument("--since", type=parse_moment, help=f"alerts that started at or after: {time_help}")
    listing.add_argument("--until", type=parse_moment, help=f"alerts that started before: {time_help}")
    listing.add_argument("--limit", type=_positive_int, default=50, help="at most this many (default: 50)")
    listing.add_argument("--json", action="store_true", help="a JSON list of every field instead of a table")
    listing.set_defaults(handler=_list)

    export = actions.add_parser("export", help="every field of the alerts in a time range, oldest first")
    export.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help=config_help)
    export.add_argument("--since", type=parse_moment, required=True, help=f"started at or after: {time_help}")
    export.add_argument("--until", type=parse_moment, help=f"started before: {time_help}")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=_export)
