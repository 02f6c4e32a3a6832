"""Notification services through Apprise (e-mail, Telegram, Slack, Matrix, ntfy, …): one message per alert, with
its snapshot and a link to its page."""

from __future__ import annotations

import apprise
from apprise.attachment.memory import AttachMemory

from alerts.notify.events import EventKind, OutboxEvent, alert_page, snapshot_of
from alerts.notify.filters import EventFilter, Throttle

_NOTIFY_TYPES = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
                 "critical": apprise.NotifyType.FAILURE}


class AppriseSink:
    """Sends each event that passes its filters, quiet hours and rate limit to one Apprise URL.

    Apprise says only whether the service took the message: a refusal is retried like an outage.
    """

    kind = "apprise"
    retry_cap_s = 60.0

    def __init__(self, name: str, url: str, events: EventFilter, throttle: Throttle, *,
                 dashboard_url: str | None = None) -> None:
        self.name = name
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ValueError(f"notify.apprise {name}: Apprise does not know this URL's service")
        self._filter = events
        self._throttle = throttle
        self._dashboard_url = dashboard_url

    def skip_reason(self, event: OutboxEvent) -> str | None:
        return self._filter.reason(event) or self._throttle.reason(event)

    def send(self, event: OutboxEvent) -> None:
        title, body = message(event, self._dashboard_url)
        image = snapshot_of(event)
        attach = None if image is None else AttachMemory(image, name="snapshot.jpg", mimetype="image/jpeg")
        notify_type = _NOTIFY_TYPES.get(event.severity or "info", apprise.NotifyType.INFO)
        if not self._apprise.notify(body, title=title, notify_type=notify_type, attach=attach):
            raise ConnectionError("the notification service did not take the message")

    def close(self) -> None:
        pass


def message(event: OutboxEvent, dashboard_url: str | None) -> tuple[str, str]:
    """A title and a short body for a person to read on a phone.

    Example:
        >>> from datetime import UTC, datetime
        >>> alert = {"label": "person", "score": 0.61, "started_at": "2026-12-01T23:40:00+00:00", "zone": "door"}
        >>> event = OutboxEvent(1, "k", datetime.now(UTC), EventKind.ALERT_STARTED, "lobby", "loiter", "warning",
        ...                     7, {"alert": alert}, None, None)
        >>> title, body = message(event, "https://vigil.example")
        >>> title
        'Vigil: loiter on lobby (warning)'
        >>> print(body)
        person (0.61) in zone door at 2026-12-01 23:40:00 UTC
        https://vigil.example/alerts/7
    """
    payload = event.payload
    if event.kind is EventKind.TEST:
        return "Vigil: test message", f"A test from the dashboard, asked for by {payload['test']['requested_by']}."
    if event.kind is EventKind.CAMERA_HEALTH:
        camera = payload["camera"]
        error = f": {camera['error']}" if camera.get("error") else ""
        return f"Vigil: camera {event.camera} {camera['status']}", f"Camera {event.camera} is {camera['status']}{error}"
    alert = payload["alert"]
    what = {EventKind.ALERT_STARTED: "", EventKind.ALERT_UPDATED: " (better view)",
            EventKind.ALERT_ENDED: " ended", EventKind.ALERT_STATUS: f" {payload.get('change', {}).get('status')}"}
    title = f"Vigil: {event.rule} on {event.camera}{what[event.kind]} ({event.severity})"
    where = (f" in zone {alert['zone']}" if alert.get("zone") else
             f" at line {alert['line']}" if alert.get("line") else "")
    when = alert["started_at"].replace("T", " ").split(".")[0].removesuffix("+00:00") + " UTC"
    lines = [f"{alert['label']} ({alert['score']:.2f}){where} at {when}"]
    if change := payload.get("change"):
        said = [part for part in (change.get("by") and f"by {change['by']}", change.get("note")) if part]
        if said:
            lines.append(": ".join(said))
    if (url := alert_page(event, dashboard_url)) is not None:
        lines.append(url)
    return title, "\n".join(lines)
