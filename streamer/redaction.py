"""Camera URLs made fit for logs, errors and APIs: passwords and credential-like query values masked."""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET_CHARS = 3
"""Shorter known secrets are not masked by value: they would garble every message and hide nothing."""
_CREDENTIAL_KEY = re.compile(r"pass|pwd|^pw$|secret|token|key|auth|sig|credential|session|cookie", re.IGNORECASE)
"""Query keys whose values are masked: password, passwd, pwd, api_key, access_token, signature, …"""
_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with its password and credential-like query values replaced by `***`.

    The user info runs up to the last `@` of the authority, so passwords holding `@` or `/` are masked whole;
    a lone user name is kept only alongside a password (alone it may be a token).

    Example:
        >>> redact_url("rtsp://admin:p@ss/w0rd@10.0.0.5:554/stream1?channel=1&password=hunter2")
        'rtsp://admin:***@10.0.0.5:554/stream1?channel=1&password=***'
        >>> redact_url("/videos/a.mp4")
        '/videos/a.mp4'
    """
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    authority_end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority_and_path, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority_and_path:  # user info may hold '/' and '@': it ends at the last '@' before any query
        userinfo, host_and_path = authority_and_path.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        authority_and_path = (f"{user}:{MASK}@" if ":" in userinfo and user else f"{MASK}@") + host_and_path
    try:
        parts = urlsplit(f"{scheme}://{authority_and_path}{tail}")
    except ValueError:  # an unbalanced '[' in the host: mask everything after the scheme
        return f"{scheme}://{MASK}"
    redacted = urlunsplit(_mask_query(parts))
    for secret in _SECRETS.longest_first():
        redacted = redacted.replace(secret, MASK)
    return redacted


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (error messages, `repr` of config values), and every secret told to
    `add_secrets` masked wherever it appears (a password no URL parser would find)."""
    text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
    for secret in _SECRETS.longest_first():
        text = text.replace(secret, MASK)
    return text


class _Secrets:
    """The values `redact_text` masks by name: passwords of the configured cameras, values from the environment."""

    def __init__(self) -> None:
        self._longest_first: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            known = set(self._longest_first) | {value for value in values if len(value) >= MIN_SECRET_CHARS}
            self._longest_first = tuple(sorted(known, key=len, reverse=True))  # a longer secret may hold a shorter

    def longest_first(self) -> tuple[str, ...]:
        return self._longest_first


_SECRETS = _Secrets()


def add_secrets(values: Iterable[str]) -> None:
    """Mask these values in every redacted text from now on (shorter than MIN_SECRET_CHARS are ignored)."""
    _SECRETS.add(values)


def known_secrets() -> tuple[str, ...]:
    """Every value masked now: what another process (a cluster's actor) must mask too."""
    return _SECRETS.longest_first()


def url_secrets(url: str) -> list[str]:
    """The secrets in a camera URL: its password, read up to the URL's last `@` (so one holding `?`, `#`, `/` or
    `@` is found whole), and its credential-like query values.

    Example:
        >>> url_secrets("rtsp://admin:pa?ss@cam/s?token=t0k3n&channel=1")
        ['pa?ss', 't0k3n']
    """
    if "://" not in url:
        return []
    rest = url.split("://", 1)[1]
    userinfo, _, tail = rest.rpartition("@")
    user, _, password = userinfo.partition(":")
    found = [password] if password and "/" not in user else []
    query = tail.split("#", 1)[0].split("?", 1)[1] if "?" in tail else ""
    return found + [value for key, value in parse_qsl(query, keep_blank_values=True)
                    if _CREDENTIAL_KEY.search(key) and value]


class RedactingFilter(logging.Filter):
    """Redacts URLs and known secrets in every log record's message and traceback, whichever code logged it (put
    it on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:
            trace = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_text = redact_text(trace)
        return True


def _mask_query(parts: SplitResult) -> SplitResult:
    if not parts.query:
        return parts
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(_CREDENTIAL_KEY.search(key) for key, _ in pairs):
        return parts
    query = "&".join(
        f"{quote(key, safe='')}={MASK if _CREDENTIAL_KEY.search(key) else quote(value, safe='')}"
        for key, value in pairs
    )
    return parts._replace(query=query)
