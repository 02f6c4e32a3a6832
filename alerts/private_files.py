"""Files only their owner may read: the alert database and the dashboard's secret key."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

OWNER_ONLY = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database; it creates them with the database file's own mode."""


def create_owner_only(path: Path) -> bool:
    """Create an empty file at `path` with mode 0600 (whatever the umask); False if it already existed."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def restrict_to_owner(path: Path) -> None:
    """Take away every group and other permission of an existing file, logging a warning when there were any.

    Tightened rather than refused: the file keeps working, and the warning tells who may have read it before.
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & 0o700)
        log.warning("%s was open to other users (mode %04o); it is now owner-only (%04o)", path, mode, mode & 0o700)


def private_sqlite_file(database: Path) -> None:
    """Make `database` (created if new) and the side files SQLite keeps beside it readable by their owner only."""
    if create_owner_only(database):
        return
    for path in (database, *(database.with_name(database.name + suffix) for suffix in SQLITE_SIDE_FILES)):
        if path.exists():
            restrict_to_owner(path)
