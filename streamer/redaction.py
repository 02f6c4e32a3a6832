"""Camera URLs made fit for logs, errors and APIs: passwords and credential-like query values masked."""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
_CREDENTIAL_KEY = re.compile(r"pass|pwd|secret|token|key|auth|sig|credential|session|cookie", re.IGNORECASE)
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
    return urlunsplit(_mask_query(parts))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (error messages, `repr` of config values)."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """Redacts URLs in every log record's message and traceback, whichever code logged it (put it on handlers)."""

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
        f"{quote(key, safe='')}={MASK if _CREDENTIAL_KEY.search(key) else quote(value, safe='')}" for key, value in pairs
    )
    return parts._replace(query=query)
