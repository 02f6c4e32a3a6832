"""Alert media paths: where an alert's snapshot and clip are written, and how rows keep them (relative to the
media folder, so every node that mounts it reads the same)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


def alert_media_path(media_dir: Path, camera: str, started_at: datetime, key: str, suffix: str,
                     rule: str | None = None) -> Path:
    """Where an alert's snapshot or clip is written: by camera and the alert's start, named for its key.

    Example:
        >>> from datetime import UTC
        >>> at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
        >>> alert_media_path(Path("media"), "lobby", at, "3f2a9c1e77", ".jpg", rule="seen").as_posix()
        'media/lobby/2026-11-28/093000-seen-3f2a9c1e.jpg'
        >>> alert_media_path(Path("media"), "lobby", at, "3f2a9c1e77", ".mp4").name
        '093000-3f2a9c1e.mp4'
    """
    tag = "" if rule is None else f"{rule}-"
    return media_dir / camera / f"{started_at:%Y-%m-%d}" / f"{started_at:%H%M%S}-{tag}{key[:8]}{suffix}"


@dataclass(frozen=True, slots=True)
class MediaRoot:
    """The media folder the store's snapshot and clip paths are relative to; None keeps paths as they are given.

    A path outside the folder is kept whole (the dashboard will not serve it), and a whole path read back stays so:
    rows written before paths were relative keep working.

    Example:
        >>> root = MediaRoot(Path("/srv/vigil/media"))
        >>> root.stored("/srv/vigil/media/lobby/2026-12-01/a.jpg"), root.resolved("lobby/2026-12-01/a.jpg")
        ('lobby/2026-12-01/a.jpg', '/srv/vigil/media/lobby/2026-12-01/a.jpg')
        >>> root.stored("/elsewhere/b.jpg"), root.resolved("/elsewhere/b.jpg"), root.stored(None)
        ('/elsewhere/b.jpg', '/elsewhere/b.jpg', None)
    """

    folder: Path | None = None

    def stored(self, path: str | Path | None) -> str | None:
        """How a row keeps `path`."""
        if path is None or self.folder is None:
            return None if path is None else str(path)
        absolute, folder = Path(os.path.abspath(path)), Path(os.path.abspath(self.folder))
        return absolute.relative_to(folder).as_posix() if folder in absolute.parents else str(path)

    def resolved(self, stored: str | None) -> str | None:
        """The file a row's path names."""
        if stored is None or self.folder is None:
            return stored
        return str(Path(os.path.abspath(self.folder)) / stored)

    @property
    def prefix(self) -> str | None:
        """What a whole path under the folder starts with (to make old rows relative), or None."""
        return None if self.folder is None else os.path.abspath(self.folder).rstrip("/") + "/"
