"""Prometheus text exposition (format 0.0.4) of alert totals and camera health."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streamer import CameraHealth, CameraState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_CAMERA_METRICS = (
    ("vigil_camera_fps_in", "gauge", "Frames decoded per second.", lambda h: h.fps_in),
    ("vigil_camera_fps_out", "gauge", "Frames handed to the detector per second.", lambda h: h.fps_out),
    ("vigil_camera_dropped_total", "counter", "Sampled frames replaced before detection.", lambda h: h.dropped),
    ("vigil_camera_motion_skipped_total", "counter", "Sampled frames kept from the detector: no motion, no track.",
     lambda h: h.skipped),
    ("vigil_camera_reconnects_total", "counter", "Reconnect attempts.", lambda h: h.reconnects),
    ("vigil_camera_up", "gauge", "1 while streaming, else 0.", lambda h: int(h.state == CameraState.STREAMING)),
)


def prometheus_text(
    alert_totals: Mapping[tuple[str, str], int],
    health: Mapping[str, CameraHealth] | None,
    extra: Iterable[str] = (),
) -> str:
    """Alerts per (rule, status), per-camera health (when the pipeline runs), then the `extra` lines.

    Example:
        >>> print(prometheus_text({("crowd", "new"): 2}, None), end="")
        # HELP vigil_alerts_total Stored alerts by rule and status.
        # TYPE vigil_alerts_total counter
        vigil_alerts_total{rule="crowd",status="new"} 2
    """
    lines = ["# HELP vigil_alerts_total Stored alerts by rule and status.", "# TYPE vigil_alerts_total counter"]
    lines += [
        f"vigil_alerts_total{_labels(rule=rule, status=status)} {count}"
        for (rule, status), count in sorted(alert_totals.items())
    ]
    for name, kind, help_text, value in _CAMERA_METRICS if health is not None else ():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_labels(camera=camera)} {value(h)}" for camera, h in sorted(health.items())]
    lines += [line.rstrip("\n") for line in extra]
    return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
