"""Labelled data uploaded from the dashboard, imported by `vigil finetune import` in a child process."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from finetune.dataset import DatasetError, check_dataset_name
from finetune.import_tasks import UPLOAD_FILES, ImportBusy, ImportTask
from finetune.importers.uploads import check_file

log = logging.getLogger(__name__)

_NICENESS = 10
"""Imports run the live model over every frame: below the pipeline's priority, like training jobs."""
_SUFFIXES = {
    ("cvat-video", "annotations"): (".xml",), ("cvat-video", "video"): (".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts"),
    ("yolo", "archive"): (".zip",), ("coco", "annotations"): (".json",), ("coco", "archive"): (".zip",),
}
_CLI_OPTION = {("cvat-video", "annotations"): "--annotations", ("cvat-video", "video"): "--video",
               ("yolo", "archive"): "--path", ("coco", "annotations"): "--annotations", ("coco", "archive"): "--images"}
_KEPT_TASKS = 20
_STOP_TIMEOUT_S = 30.0
_LOG_TAIL_CHARS = 2000


class Upload(Protocol):
    """An uploaded file as Werkzeug hands it over: already spooled to disk past a small size."""

    filename: str | None

    def save(self, destination: str) -> None: ...


class DatasetUploads:
    """One import at a time of uploaded files into a dataset, all or nothing, at a lower CPU priority.

    The files are copied in chunks to `uploads_dir/<token>/`, checked against the
    size limit, and handed to `vigil finetune import --json` with the config at
    `config_path`, so an upload gets exactly the CLI's validation; the folder is
    removed when the import ends. This object owns the tasks' state.

    Example:
        >>> uploads = DatasetUploads(Path("config.yaml"), Path("data/finetune/uploads"), max_bytes=2 << 30)  # doctest: +SKIP
        >>> token = uploads.start("site", "cvat-video", request.files, ["package"], every=5, requested_by="admin")  # doctest: +SKIP
    """

    def __init__(self, config_path: Path, uploads_dir: Path, max_bytes: int) -> None:
        self.config_path = config_path
        self.uploads_dir = uploads_dir
        self.max_bytes = max_bytes
        self._tasks: dict[str, ImportTask] = {}
        self._children: dict[str, subprocess.Popen] = {}
        self._saving: str | None = None
        """The token whose files are being copied (outside the lock)."""
        self._lock = threading.Lock()
        shutil.rmtree(uploads_dir, ignore_errors=True)  # what a crashed run left: its imports ended with it

    def start(self, dataset: str, format: str, files: Mapping[str, Upload], add_classes: Sequence[str], *,
              every: int, requested_by: str) -> str:
        """Save the upload and start its import; DatasetError for a bad request, ImportBusy while one runs."""
        check_dataset_name(dataset)
        if format not in UPLOAD_FILES:
            raise DatasetError(f"unknown format {format!r}: use one of {', '.join(UPLOAD_FILES)}")
        if every < 1:
            raise DatasetError(f"every must be at least 1, got {every}")
        for role in UPLOAD_FILES[format]:
            upload = files.get(role)
            if upload is None or not upload.filename:
                raise DatasetError(f"{format} needs a{'n' if role[0] in 'aeiou' else ''} {role} file")
            suffixes = _SUFFIXES[(format, role)]
            if not upload.filename.lower().endswith(suffixes):
                raise DatasetError(f"the {role} file {_shown(upload.filename)!r} must end in {' or '.join(suffixes)}")
        token = self._reserve()
        folder = self.uploads_dir / token
        try:
            arguments = self._save(format, files, folder)
            command = [sys.executable, "-m", "vigil", "finetune", "import", "-c", str(self.config_path.resolve()),
                       "--dataset", dataset, "--format", format, "--every", str(every), "--json",
                       "--progress-file", str(folder / "progress"), *arguments]
            for name in add_classes:
                command += ["--add-class", name]
            with self._lock:
                with open(folder / "result.json", "wb") as result, open(folder / "import.log", "wb") as output:
                    child = subprocess.Popen(command, stdout=result, stderr=output, stdin=subprocess.DEVNULL,
                                             cwd=Path(__file__).resolve().parents[1])
                _lower_priority(child.pid)
                self._children[token] = child
                self._tasks[token] = ImportTask(
                    token, dataset, format, requested_by, datetime.now(UTC),
                    {role: _shown(files[role].filename or "") for role in UPLOAD_FILES[format]},
                )
                self._forget_old()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            with self._lock:
                self._saving = None
        log.info("import %s into %s (%s) started by %s", token, dataset, format, requested_by)
        return token

    def get(self, token: str) -> ImportTask | None:
        with self._lock:
            self._refresh()
            return self._tasks.get(token)

    def wait(self, token: str, timeout: float | None = None) -> ImportTask | None:
        """Wait up to `timeout` for the import to end; the task as it then is."""
        child = self._children.get(token)
        if child is not None:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.get(token)

    def stop(self) -> None:
        """Stop a running import (nothing of it is kept: imports are all or nothing)."""
        with self._lock:
            for child in self._children.values():
                child.terminate()
                try:
                    child.wait(timeout=_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            self._refresh()

    def _reserve(self) -> str:
        with self._lock:
            self._refresh()
            if self._saving is not None or any(task.status == "running" for task in self._tasks.values()):
                raise ImportBusy("an import is running: wait for it to end")
            self._saving = secrets.token_urlsafe(12)
            (self.uploads_dir / self._saving).mkdir(parents=True)
            return self._saving

    def _save(self, format: str, files: Mapping[str, Upload], folder: Path) -> list[str]:
        arguments = []
        for role in UPLOAD_FILES[format]:
            upload = files[role]
            path = folder / f"{role}{Path(upload.filename or '').suffix.lower()}"
            upload.save(str(path))
            check_file(path, self.max_bytes)
            arguments += [_CLI_OPTION[(format, role)], str(path)]
        return arguments

    def _refresh(self) -> None:
        for token, child in list(self._children.items()):
            folder = self.uploads_dir / token
            task = self._tasks[token]
            if child.poll() is None:
                done, total = _progress(folder / "progress")
                self._tasks[token] = replace(task, done=done, total=total)
                continue
            del self._children[token]
            finished = _finished(task, child.returncode, folder)
            self._tasks[token] = finished
            if finished.status == "failed":
                log.warning("import %s into %s failed: %s\n%s", token, task.dataset, finished.error, _log_tail(folder))
            else:
                log.info("import %s into %s: %d frame(s)", token, task.dataset, finished.done)
            shutil.rmtree(folder, ignore_errors=True)

    def _forget_old(self) -> None:
        for token in list(self._tasks)[:-_KEPT_TASKS]:
            if self._tasks[token].status != "running":
                del self._tasks[token]


def _lower_priority(pid: int) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, pid, _NICENESS)
    except OSError as error:  # the child may already have ended
        log.debug("could not lower the priority of import process %d: %s", pid, error)


def _finished(task: ImportTask, returncode: int, folder: Path) -> ImportTask:
    outcome = _last_json_line(folder / "result.json")
    if returncode == 0 and "samples" in outcome:
        return replace(task, status="succeeded", done=outcome["samples"], total=outcome["samples"], summary=outcome)
    error = outcome.get("error") or f"the import stopped (exit status {returncode}); see the server log"
    return replace(task, status="failed", error=str(error))


def _last_json_line(path: Path) -> dict:
    """The child's JSON answer: its last line of output (libraries may print before it)."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        answer = json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}


def _log_tail(folder: Path) -> str:
    try:
        return (folder / "import.log").read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError:
        return ""


def _progress(path: Path) -> tuple[int, int]:
    try:
        done, total = (int(v) for v in path.read_text().split())
        return done, total
    except (OSError, ValueError):
        return 0, 0


def _shown(filename: str) -> str:
    """A client's file name made safe to show: its last part, printable, at most 120 characters."""
    name = re.split(r"[/\\]", filename)[-1]
    return "".join(c if c.isprintable() else "?" for c in name)[:120]
