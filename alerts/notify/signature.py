"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, checked within a replay window.

The header is `X-Vigil-Signature: t=<unix seconds>,v1=<hex digest>`, the digest being
HMAC-SHA256(secret, f"{t}." + body) over the exact bytes of the JSON body (the `event` part of a multipart
request). A receiver recomputes it, compares in constant time, and refuses a `t` outside its window.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Vigil-Signature"
REPLAY_WINDOW_S = 300
"""A signature older (or newer) than this is refused: a captured request cannot be replayed later."""


class InvalidSignature(ValueError):
    pass


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp`.

    Example:
        >>> sign("s3cret", b'{"event":"test"}', 1764547200)
        't=1764547200,v1=f28dd5df360c935d20d96e44d661f22ed94f875a39409dfd6f00b90384935bbe'
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           window_s: float = REPLAY_WINDOW_S) -> int:
    """Check a received header against `body`; returns its timestamp, raises InvalidSignature otherwise.

    Example:
        >>> header = sign("s3cret", b"{}", 1764547200)
        >>> verify("s3cret", header, b"{}", now=1764547260)
        1764547200
        >>> verify("s3cret", header, b"{ }", now=1764547260)
        Traceback (most recent call last):
        ...
        alerts.notify.signature.InvalidSignature: the signature does not match the body
    """
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
        digest = fields["v1"]
    except (KeyError, ValueError):
        raise InvalidSignature(f"malformed {HEADER} header") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > window_s:
        raise InvalidSignature(f"signed {now - timestamp:.0f} s ago, outside the {window_s:g} s replay window")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, digest):
        raise InvalidSignature("the signature does not match the body")
    return timestamp
