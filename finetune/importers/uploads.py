"""Guards on uploaded files: size limits, no links, and zip archives unpacked only inside their folder."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

from finetune.dataset import DatasetError

_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")


def check_file(path: Path, max_bytes: int) -> None:
    """Raise DatasetError when `path` is not a readable file of at most `max_bytes`."""
    if not path.is_file():
        raise DatasetError(f"no such file: {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetError(f"{path.name} is {size} bytes, over the limit of {max_bytes} bytes")


def check_folder(folder: Path, max_bytes: int) -> None:
    """Raise DatasetError when `folder` holds links or more than `max_bytes` in all."""
    total = 0
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            path = Path(parent) / name
            if path.is_symlink():
                raise DatasetError(f"{path.relative_to(folder)} in {folder.name} is a symbolic link; links are refused")
        total += sum((Path(parent) / name).stat().st_size for name in files)
        if total > max_bytes:
            raise DatasetError(f"{folder.name} holds over {max_bytes} bytes, the limit")


def unpack_zip(archive: Path, into: Path, max_bytes: int) -> None:
    """Extract `archive` into `into` once every entry is known to be safe: checks everything before writing anything."""
    check_file(archive, max_bytes)
    try:
        with zipfile.ZipFile(archive) as zipped:
            entries = zipped.infolist()
            for entry in entries:
                _check_entry(archive, entry)
            total = sum(entry.file_size for entry in entries)
            if total > max_bytes:
                raise DatasetError(
                    f"{archive.name} unpacks to {total} bytes, over the limit of {max_bytes} bytes"
                )
            # zipfile never writes more than an entry's declared size, so `total` bounds what lands on disk.
            zipped.extractall(into)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as error:
        raise DatasetError(f"{archive.name} is not a readable zip archive: {error}") from error


def _check_entry(archive: Path, entry: zipfile.ZipInfo) -> None:
    name = entry.filename
    parts = re.split(r"[/\\]", name)
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        raise DatasetError(f"{archive.name}: entry {name!r} has an absolute path")
    if ".." in parts:
        raise DatasetError(f"{archive.name}: entry {name!r} points outside the archive's folder")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise DatasetError(f"{archive.name}: entry {name!r} is a symbolic link; links are refused")
