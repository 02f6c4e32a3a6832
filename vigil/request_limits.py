"""Request-body limits applied by waitress before a body is read: waitress spools a whole body to disk before the
app runs, so the app's own limits come too late to protect the disk."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from flask import Flask
from itsdangerous import BadData
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

SignedIn = Callable[[str], bool]
"""Whether a Cookie header carries a validly signed session of some user."""


class _Adjustments:
    """waitress's settings with another body limit: one request's own."""

    def __init__(self, settings: Any, max_request_body_size: int) -> None:
        self._settings = settings
        self.max_request_body_size = max_request_body_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings, name)


def route_limited_channel(large_paths: frozenset[str], small: int, signed_in: SignedIn) -> type[HTTPChannel]:
    """A waitress channel class whose requests may carry more than `small` bytes only on `large_paths`, and only
    with a signed-in session cookie: anyone else's large body is refused (413) before it is spooled."""

    class RouteLimitedParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if self.path not in large_paths or not signed_in(self.headers.get("COOKIE", "")):
                self.adj = _Adjustments(self.adj, small)

    class RouteLimitedChannel(HTTPChannel):
        parser_class = RouteLimitedParser

    return RouteLimitedChannel


def session_signed_in(app: Flask) -> SignedIn:
    """Checks a Cookie header's session the way Flask will (signature and age), without the database."""
    serializer = app.session_interface.get_signing_serializer(app)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    max_age = int(app.permanent_session_lifetime.total_seconds())

    def signed_in(header: str) -> bool:
        try:
            morsel = SimpleCookie(header).get(cookie_name)
            session = serializer.loads(morsel.value, max_age=max_age) if morsel is not None else None
        except (CookieError, BadData):
            return False
        return isinstance(session, dict) and "user" in session

    return signed_in


def large_body_paths(app: Flask) -> frozenset[str]:
    """The URL paths of views that accept more than the app-wide limit (`dashboard.auth.body_limit`)."""
    return frozenset(
        rule.rule for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "vigil_max_body", None) is not None and not rule.arguments
    )
