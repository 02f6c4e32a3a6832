"""Footage assembled for playback and export, kept a while on disk and made at most a few at a time."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from alerts.footage import assemble
from alerts.recordings import RecordingIndex

_KEPT_SUFFIX = ".mp4"


class AssemblyBusy(RuntimeError):
    """Every assembly slot is taken; the request may be tried again shortly."""


class FootageCache:
    """Assembled MP4s in `folder` (owner-only), each named by a hash of its camera and range, so a file name never
    holds what a client sent. Files older than `max_age_s`, and the oldest beyond `max_bytes` in all, are deleted
    on each request; at most `slots` assemblies run at once (a remux reads and writes a lot), and one per user, so
    that no one user can keep the others waiting.

    Example:
        >>> cache = FootageCache(Path("data/recordings/.footage"))  # doctest: +SKIP
        >>> with cache.open(index, "lobby", start, end) as file: ...  # doctest: +SKIP
    """

    def __init__(self, folder: Path, slots: int = 2, max_age_s: float = 3600.0, max_bytes: int = 2 << 30) -> None:
        self.folder = folder
        self.slots = slots
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._assembling: set[str] = set()
        """Users with an assembly running."""

    @contextmanager
    def slot(self, user: str) -> Iterator[None]:
        """Hold one assembly slot for `user`; raises AssemblyBusy when none is free or the user holds one."""
        with self._lock:
            if user in self._assembling:
                raise AssemblyBusy(f"{user} is already having footage assembled")
            if not self._free.acquire(blocking=False):
                raise AssemblyBusy(f"{self.slots} footage assemblies are already running")
            self._assembling.add(user)
        try:
            yield
        finally:
            with self._lock:
                self._assembling.discard(user)
                self._free.release()

    def open(self, index: RecordingIndex, camera: str, start: datetime, end: datetime, user: str) -> BinaryIO:
        """The footage of `camera` over [start, end), opened for reading: a kept copy, or assembled now for `user`.

        A range the index does not cover yet is keyed by how far it does, so footage still being recorded is made
        again once more of it is indexed. Raises NoFootage and AssemblyBusy.
        """
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.evict()
        recorded_to = min(end, index.latest_end(camera) or start)
        key = hashlib.sha256(f"{camera}\n{start.isoformat()}\n{end.isoformat()}\n{recorded_to.isoformat()}".encode())
        kept = self.folder / f"{key.hexdigest()[:32]}{_KEPT_SUFFIX}"
        try:
            return kept.open("rb")
        except FileNotFoundError:
            pass
        with self.slot(user):
            made = assemble(index, camera, start, end, self.folder / f"{kept.stem}.{secrets.token_hex(4)}.tmp").path
        file = made.open("rb")  # opened before the rename, so a concurrent eviction cannot take it away
        os.replace(made, kept)
        return file

    def evict(self) -> None:
        """Delete files past their age (and leftovers of assemblies that died), then the oldest kept files beyond
        the size limit. Files being served stay readable: they are open."""
        oldest_kept = time.time() - self.max_age_s
        kept: list[tuple[float, int, str]] = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                try:
                    facts = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # another request evicted it meanwhile
                    continue
                if facts.st_mtime < oldest_kept:
                    _unlink(entry.path)
                elif entry.name.endswith(_KEPT_SUFFIX):
                    kept.append((facts.st_mtime, facts.st_size, entry.path))
        total = 0
        for _, size, path in sorted(kept, reverse=True):
            total += size
            if total > self.max_bytes:
                _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
