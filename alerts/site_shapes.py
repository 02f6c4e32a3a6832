"""The site's zones and lines: one immutable snapshot, owned by `SiteShapes`, swapped whole on each edit."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from alerts.watches import Polygon, Segment

Points = Sequence[Sequence[float]]


def _frozen(shapes: Mapping[str, Points]) -> Mapping[str, tuple[tuple[float, float], ...]]:
    return MappingProxyType({name: tuple((float(x), float(y)) for x, y in points) for name, points in shapes.items()})


@dataclass(frozen=True, slots=True, init=False)
class CameraShapes:
    """A camera's zones and lines, name → points in relative coordinates (0–1); immutable, the points copied in.

    Example:
        >>> door = [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9]]
        >>> shapes = CameraShapes(zones={"door": door})
        >>> door[0][0] = 0.9
        >>> shapes.zones["door"], dict(shapes.lines)
        (((0.1, 0.5), (0.3, 0.5), (0.3, 0.9)), {})
    """

    zones: Mapping[str, Polygon]
    lines: Mapping[str, Segment]

    def __init__(self, zones: Mapping[str, Points] | None = None, lines: Mapping[str, Points] | None = None) -> None:
        object.__setattr__(self, "zones", _frozen(zones or {}))
        object.__setattr__(self, "lines", _frozen(lines or {}))

    def __reduce__(self) -> tuple[type[CameraShapes], tuple[dict[str, Polygon], dict[str, Segment]]]:
        # A read-only mapping view does not pickle; the shapes cross process boundaries as plain dicts.
        return CameraShapes, (dict(self.zones), dict(self.lines))


_NO_SHAPES = CameraShapes()


class SiteShapes:
    """Every camera's zones and lines: the one copy that rules, snapshots, clips and the live view read at use time.

    The cameras' shapes are one read-only mapping that `replace` swaps whole, so every reader sees a camera's
    shapes from before an edit or from after it, never a mix, and what it was given never changes under it.

    Example:
        >>> site = SiteShapes({"lobby": CameraShapes(lines={"door": [[0.5, 0], [0.5, 1]]})})
        >>> before = site.of("lobby")
        >>> site.replace("lobby", CameraShapes(zones={"desk": [[0, 0], [1, 0], [1, 1]]}))
        >>> list(site.of("lobby").zones), list(before.lines), site.of("yard") == CameraShapes()
        (['desk'], ['door'], True)
    """

    def __init__(self, cameras: Mapping[str, CameraShapes] | None = None) -> None:
        self._cameras: Mapping[str, CameraShapes] = MappingProxyType(dict(cameras or {}))
        self._editing = threading.Lock()
        """Orders edits, so that two at once (of two cameras) both land; readers take no lock."""

    def of(self, camera: str) -> CameraShapes:
        """`camera`'s shapes as they are now; none for a camera without zones or lines."""
        return self._cameras.get(camera, _NO_SHAPES)

    def replace(self, camera: str, shapes: CameraShapes) -> None:
        """Make `shapes` the camera's, for every reader from its next look on."""
        with self._editing:
            self._cameras = MappingProxyType({**self._cameras, camera: shapes})
