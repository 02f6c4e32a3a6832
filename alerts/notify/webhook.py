"""Webhooks: each event a signed JSON POST, or multipart with the snapshot, to one URL."""

from __future__ import annotations

import hashlib
import json
import time

from urllib.parse import urlsplit

import requests

from alerts.notify.delivery import PermanentFailure
from alerts.notify.events import OutboxEvent, linked_payload, snapshot_of
from alerts.notify.filters import EventFilter
from alerts.notify.signature import HEADER, sign

_RETRIED_STATUSES = frozenset({408, 425, 429})
"""Client errors that say "later", retried like server errors; any other 4xx is refused for good."""


class WebhookSink:
    """POSTs each event to `url`, signed with `secret` (see `alerts.notify.signature`).

    The body is the event's JSON; with `snapshot` on, for an alert's start or better moment whose snapshot is on
    disk, the request is multipart/form-data
    with the JSON as its `event` part and the JPEG as `snapshot`, whose SHA-256 the signed JSON carries.
    Headers: `X-Vigil-Signature`, `X-Vigil-Event` (the kind) and `Idempotency-Key` (the event's `id`).
    A 2xx delivers; a timeout, a connection error, 408, 425, 429 or a 5xx is retried; another status (a redirect
    included: it is not followed) fails the event for good.
    """

    kind = "webhook"
    retry_cap_s = 60.0

    def __init__(self, name: str, url: str, secret: str, events: EventFilter, *, timeout_s: float = 5.0,
                 snapshot: bool = False, dashboard_url: str | None = None) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self._filter = events
        self._timeout_s = timeout_s
        self._snapshot = snapshot
        self._dashboard_url = dashboard_url
        self._session = requests.Session()

    def skip_reason(self, event: OutboxEvent) -> str | None:
        return self._filter.reason(event)

    def send(self, event: OutboxEvent) -> None:
        payload = linked_payload(event, self._dashboard_url)
        image = snapshot_of(event) if self._snapshot else None
        if image is not None:
            payload["snapshot"] = {"sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image)}
        body = json.dumps(payload, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {HEADER: sign(self._secret, body, int(time.time())), "X-Vigil-Event": str(event.kind),
                   "Idempotency-Key": event.key, "User-Agent": "Vigil"}
        if image is None:
            request = {"data": body, "headers": {**headers, "Content-Type": "application/json"}}
        else:
            files = {"event": ("event.json", body, "application/json"),
                     "snapshot": ("snapshot.jpg", image, "image/jpeg")}
            request = {"files": files, "headers": headers}
        try:
            response = self._session.post(self._url, timeout=self._timeout_s, allow_redirects=False, **request)
        except requests.RequestException as error:  # its text holds the URL's path, which may be a token
            raise ConnectionError(f"{type(error).__name__} posting to {self.origin}") from None
        if 200 <= response.status_code < 300:
            return
        message = f"HTTP {response.status_code} {response.reason}"
        if 300 <= response.status_code < 500 and response.status_code not in _RETRIED_STATUSES:
            raise PermanentFailure(message)
        raise ConnectionError(message)

    @property
    def origin(self) -> str:
        """scheme://host[:port]/… : what may be shown of the URL (a webhook's path often holds a token)."""
        parts = urlsplit(self._url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/…"

    def close(self) -> None:
        self._session.close()
