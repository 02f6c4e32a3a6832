"""Which client a request came from, believing `X-Forwarded-For` only from the reverse proxies the site trusts."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                      "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_BY", "HTTP_FORWARDED")


class TrustedProxies:
    """WSGI middleware: behind a trusted proxy, `REMOTE_ADDR` becomes the client's address and the scheme the
    client's; the forwarding headers are then removed, so nothing after it can read an unchecked one.

    The client is the right-most `X-Forwarded-For` address that is not itself a trusted proxy: entries to its
    left were written by the client and prove nothing.

    Example:
        >>> app = TrustedProxies(lambda environ, start: [environ["REMOTE_ADDR"].encode()], ["10.0.0.0/8"])
        >>> app({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7"}, None)
        [b'203.0.113.7']
        >>> app({"REMOTE_ADDR": "198.51.100.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}, None)
        [b'198.51.100.1']
    """

    def __init__(self, app: WsgiApp, trusted: Sequence[Network | str]) -> None:
        self._app = app
        self._trusted = tuple(ipaddress.ip_network(network) for network in trusted)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._trusted and self._is_trusted(environ.get("REMOTE_ADDR", "")):
            forwarded = [part.strip() for part in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
            client = next((address for address in reversed(forwarded) if not self._is_trusted(address)), None)
            if client is not None and _is_address(client):
                environ["REMOTE_ADDR"] = client
            scheme = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        for header in FORWARDING_HEADERS:
            environ.pop(header, None)
        return self._app(environ, start_response)

    def _is_trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._trusted)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
