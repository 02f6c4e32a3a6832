"""Edits a camera's zones and lines: validated, written into the config file, applied to the running pipeline."""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from alerts.site_shapes import CameraShapes
from vigil.config import ConfigError, PostedShapes, substitute_env, validate_substituted

if TYPE_CHECKING:
    from vigil.cluster.driver import ClusterPipeline
    from vigil.pipeline import Pipeline

Shapes = Mapping[str, Sequence[Sequence[float]]]
_FIRST_INDENT = re.compile(r"^( +)[^\s#-]", re.MULTILINE)


class ShapeEditor:
    """Reads and replaces one camera's `zones` and `lines` in the config file, and in the pipeline when one runs.

    Saving validates the whole edited file as `vigil check-config` would (a zone a rule uses cannot be removed),
    keeps the previous file as `<name>.bak`, rewrites the file atomically keeping its comments and layout, and
    swaps the new geometry into the pipeline's drawing and rules without a restart.

    Example:
        >>> editor = ShapeEditor(Path("config.yaml"), pipeline=None)  # doctest: +SKIP
        >>> editor.save("lobby", zones={"door": [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]]}, lines={})  # doctest: +SKIP
        >>> editor.shapes("lobby")  # doctest: +SKIP
        {'zones': {'door': [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]]}, 'lines': {}}
    """

    def __init__(self, config_path: Path, pipeline: Pipeline | ClusterPipeline | None) -> None:
        self.config_path = Path(config_path)
        self._pipeline = pipeline
        self._saving = threading.Lock()

    @property
    def cameras(self) -> list[str]:
        return list(self._read_plain().get("cameras") or {})

    def shapes(self, camera: str) -> dict[str, dict[str, list[list[float]]]]:
        """`{"zones": …, "lines": …}` of `camera` as the file holds them, in relative coordinates."""
        settings = (self._read_plain().get("cameras") or {})[camera] or {}
        return {kind: _plain(settings.get(kind) or {}) for kind in ("zones", "lines")}

    def save(self, camera: str, zones: Any, lines: Any) -> None:
        """Replace `camera`'s zones and lines; raises ConfigError (file untouched) when the result is invalid.

        The posted shapes are checked strictly first and merged only after the file's own `${ENV}` references are
        substituted, so nothing posted is ever substituted and no error repeats an environment value.
        """
        posted = PostedShapes.parse(camera, zones, lines, self.config_path)
        shapes = {"zones": _lists(posted.zones), "lines": _lists(posted.lines)}
        with self._saving:
            text = self.config_path.read_text(encoding="utf-8")
            dumper = _round_trip(text)
            document = dumper.load(text)
            cameras = document.get("cameras") if isinstance(document, dict) else None
            if not isinstance(cameras, dict) or not isinstance(cameras.get(camera), dict):
                raise ConfigError(self.config_path, [f"cameras.{camera}: no such camera"])
            substituted = substitute_env(yaml.safe_load(text), self.config_path)
            substituted.document["cameras"][camera].update(shapes)
            edited = validate_substituted(substituted, self.config_path).cameras[camera]
            cameras[camera]["zones"], cameras[camera]["lines"] = _flow(edited.zones), _flow(edited.lines)
            self._write(dumper, document)
            self._apply(camera, edited.zones, edited.lines)

    def _read_plain(self) -> dict[str, Any]:
        document = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        return document if isinstance(document, dict) else {}

    def _write(self, dumper: YAML, document: Any) -> None:
        """Keep the current file as the backup, then replace it in one step so that readers never see half a file."""
        buffer = io.StringIO()
        dumper.dump(document, buffer)
        shutil.copy2(self.config_path, self.config_path.with_name(self.config_path.name + ".bak"))
        descriptor, temporary = tempfile.mkstemp(dir=self.config_path.parent, prefix=f".{self.config_path.name}.")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(buffer.getvalue())
                file.flush()
                os.fsync(file.fileno())
            shutil.copymode(self.config_path, temporary)
            os.replace(temporary, self.config_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _apply(self, camera: str, zones: Shapes, lines: Shapes) -> None:
        """Swap the camera's new shapes into the pipeline's one copy: its rules and drawing read it from their next
        frame on."""
        if self._pipeline is not None:
            self._pipeline.shapes.replace(camera, CameraShapes(zones, lines))


def _round_trip(text: str) -> YAML:
    """A ruamel round-trip loader/dumper that writes with the file's own indentation."""
    _, sequence_indent, dash_offset = load_yaml_guess_indent(text)
    first = _FIRST_INDENT.search(text)
    dumper = YAML()
    dumper.preserve_quotes = True
    dumper.width = 4096  # never re-wrap long lines
    dumper.indent(mapping=len(first.group(1)) if first else 2, sequence=sequence_indent or 2, offset=dash_offset or 0)
    return dumper


def _flow(shapes: Shapes) -> CommentedMap:
    """name → points, each shape on one line: `door: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]]`."""
    mapping = CommentedMap()
    for name, points in shapes.items():
        mapping[name] = _flow_list([_flow_list(point) for point in points])
    return mapping


def _flow_list(items: Sequence[Any]) -> CommentedSeq:
    listing = CommentedSeq(items)
    listing.fa.set_flow_style()
    return listing


def _lists(shapes: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, list[list[float]]]:
    return {name: [list(point) for point in points] for name, points in shapes.items()}


def _plain(shapes: Mapping[str, Any]) -> dict[str, list[list[float]]]:
    return {str(name): [[float(value) for value in point] for point in points] for name, points in shapes.items()}
