"""Logging in a cluster's actors as in `vigil run`: the same format, every secret the driver masks masked here too."""

from __future__ import annotations

import logging

from streamer.redaction import RedactingFilter, add_secrets


def log_like_vigil(secrets: tuple[str, ...]) -> None:
    """Log INFO and up in Vigil's format through a redacting handler, masking `secrets` (the driver's)."""
    add_secrets(secrets)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if not any(isinstance(f, RedactingFilter) for handler in root.handlers for f in handler.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.handlers = [handler]
    logging.getLogger("alembic").setLevel(logging.WARNING)
