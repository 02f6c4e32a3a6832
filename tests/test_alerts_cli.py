"""`vigil alerts list` and `vigil alerts export` against a real alert database: SQLite, then PostgreSQL."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from alerts import Alert, AlertStatus, AlertStore, Severity
from vigil.alerts_cli import add_alert_commands

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    commands = parser.add_subparsers(dest="command", required=True)
    add_alert_commands(commands)
    args = parser.parse_args(argv)
    return args.handler(args)


def alert(camera: str = "lobby", started_at: datetime = T0, **fields) -> Alert:
    defaults = dict(rule="person-seen", kind="presence", label="person", track_id=4, score=0.81, severity=Severity.INFO)
    return Alert(camera=camera, started_at=started_at, box=(10.0, 20.0, 50.0, 120.0), **(defaults | fields))


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request, write_config, tmp_path):
    """A config whose database (a SQLite file relative to the config's folder, then a PostgreSQL URL) is
    returned with it, opened."""
    if request.param == "sqlite":
        database, opened = "db/vigil.db", tmp_path / "db" / "vigil.db"
    else:
        database = opened = request.getfixturevalue("postgres").database()
    path = write_config({"cameras": {"lobby": {"url": "lobby.mp4"}}, "storage": {"database": database}})
    store = AlertStore(opened)
    yield str(path), store
    store.close()


def test_list_prints_an_aligned_table_newest_first(config, capsys) -> None:
    path, store = config
    first = store.insert(alert(ended_at=T0 + timedelta(seconds=30)))
    second = store.insert(alert("gate", T0 + timedelta(minutes=5), rule="person-down", severity=Severity.CRITICAL))
    assert run(["alerts", "list", "-c", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "id", "started_at", "camera", "rule", "kind", "label", "track", "score", "severity", "status", "ended"
    ]
    assert lines[1].split() == [
        str(second), "2026-11-28T09:05:00Z", "gate", "person-down", "presence", "person", "4", "0.81", "critical", "new"
    ]
    assert lines[2].split() == [
        str(first), "2026-11-28T09:00:00Z", "lobby", "person-seen", "presence", "person", "4", "0.81", "info", "new",
        "2026-11-28T09:00:30Z",
    ]
    starts = [[match.start() for match in re.finditer(r"\S+", line)] for line in lines]
    assert starts[1] == starts[0][:10] and starts[2] == starts[0], "every cell starts under its heading"


def test_list_json_has_every_field_with_offset_times(config, capsys) -> None:
    path, store = config
    alert_id = store.insert(alert(zone="door", count=2, details={"dwell_s": 4.5}))
    store.set_status(alert_id, AlertStatus.ACKNOWLEDGED, "ana")
    assert run(["alerts", "list", "-c", path, "--json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["id"] == alert_id
    assert record["started_at"] == "2026-11-28T09:00:00+00:00"
    assert datetime.fromisoformat(record["started_at"]) == T0
    assert (record["status"], record["zone"], record["count"]) == ("acknowledged", "door", 2)
    assert record["details"] == {"dwell_s": 4.5}
    assert (record["ended_at"], record["box"]) == (None, [10.0, 20.0, 50.0, 120.0])


def test_list_filters(config, capsys) -> None:
    path, store = config
    lobby = store.insert(alert())
    gate = store.insert(alert("gate", T0 + timedelta(minutes=1), severity=Severity.CRITICAL))
    down = store.insert(alert("gate", T0 + timedelta(minutes=2), rule="person-down"))
    store.set_status(down, AlertStatus.RESOLVED, "ana")

    def listed(*options: str) -> list[int]:
        assert run(["alerts", "list", "-c", path, "--json", *options]) == 0
        return [record["id"] for record in json.loads(capsys.readouterr().out)]

    assert listed("--camera", "gate") == [down, gate]
    assert listed("--rule", "person-down") == [down]
    assert listed("--status", "new") == [gate, lobby]
    assert listed("--severity", "critical") == [gate]
    assert listed("--since", "2026-11-28T09:01:00", "--until", "2026-11-28T10:02:00+01:00") == [gate]
    assert listed("--limit", "1") == [down]
    assert listed("--camera", "gate' OR '1'='1") == []


def test_list_since_accepts_durations_before_now(config, capsys) -> None:
    path, store = config
    now = datetime.now(UTC)
    recent = store.insert(alert(started_at=now - timedelta(minutes=20)))
    today = store.insert(alert(started_at=now - timedelta(hours=5)))
    store.insert(alert(started_at=now - timedelta(days=3)))
    for since, expected in (("30m", [recent]), ("6h", [recent, today]), ("2d", [recent, today])):
        assert run(["alerts", "list", "-c", path, "--json", "--since", since]) == 0
        assert [r["id"] for r in json.loads(capsys.readouterr().out)] == expected, since
    assert run(["alerts", "list", "-c", path, "--json", "--until", "1h"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


@pytest.mark.parametrize("value", ["yesterday", "30x", "1.5h", "2026-13-01"])
def test_bad_times_are_refused_by_name(config, capsys, value) -> None:
    path, _ = config
    with pytest.raises(SystemExit) as refused:
        run(["alerts", "list", "-c", path, "--since", value])
    assert refused.value.code == 2
    assert f"argument --since: {value!r} is neither an ISO 8601 time nor a duration" in capsys.readouterr().err


def test_export_csv_round_trips_awkward_text_and_details(config, capsys, tmp_path) -> None:
    path, store = config
    details = {"direction": "in", "dwell_s": 12.5, "quote": 'say "hi", then\nleave'}
    awkward = store.insert(
        alert('hall, "east"', label="person, adult", clip_path="/m/c 1.mp4", snapshot_path="/m/s.jpg", details=details)
    )
    later = store.insert(alert(started_at=T0 + timedelta(hours=1), zone="door"))
    store.end(awkward, T0 + timedelta(minutes=1))
    out = tmp_path / "export.csv"
    assert run(["alerts", "export", "-c", path, "--since", "2026-11-28", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert [int(r["id"]) for r in rows] == [awkward, later], "oldest first"
    first = rows[0]
    assert (first["camera"], first["label"]) == ('hall, "east"', "person, adult")
    assert json.loads(first["details"]) == details
    assert (first["snapshot_path"], first["clip_path"], first["zone"]) == ("/m/s.jpg", "/m/c 1.mp4", "")
    assert datetime.fromisoformat(first["ended_at"]) == T0 + timedelta(minutes=1)
    assert json.loads(first["box"]) == [10.0, 20.0, 50.0, 120.0]
    assert (rows[1]["zone"], json.loads(rows[1]["details"])) == ("door", {})

    assert run(["alerts", "export", "-c", path, "--since", "2026-11-28", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert list(records[0]) == list(first), "CSV and JSON carry the same fields"
    assert (records[0]["camera"], records[0]["details"]) == ('hall, "east"', details)


def test_export_time_range(config, capsys) -> None:
    path, store = config
    store.insert(alert(started_at=T0 - timedelta(days=1)))
    inside = store.insert(alert())
    store.insert(alert(started_at=T0 + timedelta(days=1)))
    assert run(["alerts", "export", "-c", path, "--since", "2026-11-28", "--until", "2026-11-29", "--format=json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [inside]


def test_export_csv_guards_against_formula_injection(config, capsys) -> None:
    path, store = config
    store.insert(alert("=HYPERLINK(\"http://evil\")", rule="+cmd", label="@SUM(A1)", zone="-2+3", line="\tx"))
    assert run(["alerts", "export", "-c", path, "--since", "2026-11-28"]) == 0
    out = capsys.readouterr().out
    [row] = list(csv.DictReader(io.StringIO(out, newline="")))
    assert row["camera"] == "'=HYPERLINK(\"http://evil\")"
    assert (row["rule"], row["label"], row["zone"], row["line"]) == ("'+cmd", "'@SUM(A1)", "'-2+3", "'\tx")
    assert row["kind"] == "presence", "ordinary text is untouched"
    assert run(["alerts", "export", "-c", path, "--since", "2026-11-28", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["camera"] == "=HYPERLINK(\"http://evil\")", "JSON is not altered"


def test_bad_config_prints_each_problem_and_exits_2(write_config, capsys, tmp_path) -> None:
    path = write_config({"cameras": {}, "storage": {"databse": "x.db"}})
    assert run(["alerts", "list", "-c", str(path)]) == 2
    problems = capsys.readouterr().err.splitlines()
    assert len(problems) == 2 and problems[0].startswith(f"{path}: cameras: ")
    assert problems[1] == f"{path}: storage.databse: unknown key"
    missing = tmp_path / "missing.yaml"
    assert run(["alerts", "export", "-c", str(missing), "--since", "1d"]) == 2
    assert capsys.readouterr().err.startswith(f"{missing}: cannot read")
    assert not (tmp_path / "x.db").exists()


def test_export_to_an_unwritable_file_says_so(config, capsys, tmp_path) -> None:
    path, _ = config
    target = tmp_path / "no-such-folder" / "out.csv"
    assert run(["alerts", "export", "-c", path, "--since", "1d", "-o", str(target)]) == 1
    assert capsys.readouterr().err.strip() == f"{target}: cannot write: No such file or directory"
