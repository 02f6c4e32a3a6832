"""JSON request bodies that cannot crash a view: nesting too deep to parse is a bad request, not a server error."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested deeper than Python's parser can follow fails like any malformed body.

    Example:
        >>> from flask import Flask
        >>> BoundedJSONProvider(Flask(__name__)).loads("[" * 100_000)
        Traceback (most recent call last):
        ...
        ValueError: JSON nested too deeply to read
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None
