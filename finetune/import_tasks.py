"""An import of labelled data started from the dashboard, as the page that follows it sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

UPLOAD_FILES = {
    "cvat-video": ("annotations", "video"),
    "yolo": ("archive",),
    "coco": ("annotations", "archive"),
}
"""The files each upload format needs: CVAT for video 1.1 XML + its clip, a YOLO export .zip, COCO JSON + a
.zip of its images."""


class ImportBusy(Exception):
    """An import is already running; one runs at a time."""


@dataclass(frozen=True, slots=True)
class ImportTask:
    token: str
    dataset: str
    format: str
    requested_by: str
    started_at: datetime
    files: dict[str, str]
    """Role (annotations, video, archive) → the uploaded file's name, as sent."""
    status: Literal["running", "succeeded", "failed"] = "running"
    done: int = 0
    total: int = 0
    """Frames imported so far, of `total` (0 while unknown)."""
    summary: dict[str, Any] = field(default_factory=dict)
    """When succeeded: samples, labels and pseudo_labels per class, backgrounds."""
    error: str | None = None
    """When failed: why nothing was imported."""
