"""What an operator can do to an alert, shared by the HTML forms and the JSON API."""

from __future__ import annotations

from typing import Any

from alerts import AlertStatus, AlertStore

ACTIONS = ("acknowledged", "resolved", "false_positive", "note")
MAX_NOTE_CHARS = 2000


class BadAction(ValueError):
    """The request names no known action or carries an unusable note; the message says which."""


def apply_action(store: AlertStore, alert_id: int, action: Any, note: Any, actor: str) -> None:
    """Change the alert's status (with an optional note) or add a note, recorded as done by `actor`.

    Raises BadAction, and the store's AlertNotFound and InvalidTransition.
    """
    if action not in ACTIONS:
        raise BadAction(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if note is not None and not isinstance(note, str):
        raise BadAction(f"note must be text, got {type(note).__name__}")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise BadAction(f"note of {len(note)} characters is too long: at most {MAX_NOTE_CHARS}")
    if action == "note":
        if note is None:
            raise BadAction("a note needs some text")
        store.add_note(alert_id, actor, note)
    else:
        store.set_status(alert_id, AlertStatus(action), actor, note)
