"""A durable append-only journal: one JSON record per line, fsync'd, read back oldest first."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Journal:
    """Records appended from any thread and read back in order by one reader; emptied once all are read.

    A record is on disk (flushed and fsync'd) when `append` returns. Reading
    removes nothing: `clear_if_replayed` truncates the file only once every
    record has been popped, so records read before a crash are read again
    after it, and whoever applies them must do so idempotently. A last line
    torn by a crash mid-append is cut off when the journal is opened.

    Example:
        >>> import tempfile
        >>> journal = Journal(Path(tempfile.mkdtemp()) / "spilled.jsonl")
        >>> journal.append({"write": "ended", "key": "3f2a"})
        >>> journal.append({"write": "clip", "key": "3f2a", "path": "lobby/093000-3f2a.mp4"})
        >>> journal.pending, journal.peek()
        (2, {'write': 'ended', 'key': '3f2a'})
        >>> journal.pop(); journal.peek()["write"]
        'clip'
        >>> journal.clear_if_replayed()
        False
        >>> journal.pop(); journal.clear_if_replayed()
        True
        >>> journal.pending, journal.peek(), journal.path.stat().st_size
        (0, None, 0)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._read_at = 0
        self._next_at: int | None = None
        """Where the record returned by the last `peek` ends."""
        self.pending = self._open()
        """Records appended and not yet popped."""

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record durably; raises TypeError or ValueError, writing nothing, if it is not strict JSON."""
        line = json.dumps(record, allow_nan=False, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("ab") as file:
            file.write(line.encode())
            file.flush()
            os.fsync(file.fileno())
            self.pending += 1

    def peek(self) -> dict[str, Any] | None:
        """The oldest record not yet popped, or None; a line that is not JSON is logged and skipped."""
        with self._lock:
            while self.pending:
                with self.path.open("rb") as file:
                    file.seek(self._read_at)
                    line = file.readline()
                try:
                    record = json.loads(line)
                except ValueError:
                    log.error("journal %s: the line at byte %d is not JSON, skipped: %.80r", self.path, self._read_at,
                              line)
                    self._read_at += len(line)
                    self.pending -= 1
                    continue
                self._next_at = self._read_at + len(line)
                return record
            return None

    def pop(self) -> None:
        """Mark the record returned by the last `peek` as replayed."""
        with self._lock:
            if self._next_at is None:
                raise RuntimeError(f"journal {self.path}: pop() without a record from peek()")
            self._read_at, self._next_at = self._next_at, None
            self.pending -= 1

    def clear_if_replayed(self) -> bool:
        """Empty the file if every record has been popped; says whether it did."""
        with self._lock:
            if self.pending:
                return False
            os.truncate(self.path, 0)
            self._read_at, self._next_at = 0, None
            return True

    def _open(self) -> int:
        """Create the file durably or cut a torn last line off it; returns how many records it holds."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            return 0
        records = complete = 0
        with self.path.open("rb") as file:
            for line in file:
                if line.endswith(b"\n"):
                    records += 1
                    complete += len(line)
        if complete < self.path.stat().st_size:
            log.warning("journal %s: cut a last record torn by a crash (%d bytes)", self.path,
                        self.path.stat().st_size - complete)
            os.truncate(self.path, complete)
        return records
