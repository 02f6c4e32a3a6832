"""MQTT commands: arm or disarm a rule on a camera, acknowledge an alert; only on topics the ACL allows."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from paho.mqtt.client import topic_matches_sub

from alerts.alert import AlertStatus
from alerts.arming import RuleArming
from alerts.audit import AccountAction, AuditEntry, record
from alerts.store import AlertNotFound, AlertStore, InvalidTransition

log = logging.getLogger(__name__)

_ON = frozenset({"on", "arm", "armed", "true", "1"})
_OFF = frozenset({"off", "disarm", "disarmed", "false", "0"})
_MAX_NOTE_CHARS = 1000
ACTOR = "mqtt"
"""Who the audit trail says gave a command: the broker authenticated the publisher, Vigil only sees the topic."""


class CommandHandler:
    """Acts on `<prefix>/<camera>/<rule>/armed/set` (ON or OFF) and `<prefix>/alerts/<id>/acknowledge` (an optional
    note, as text or `{"note": …}`), when a filter of `acl` (MQTT wildcards allowed) matches the topic.

    Anything else (a topic outside the ACL, an unknown camera, rule or alert, a payload it cannot read) is ignored
    with a warning that says why; every command obeyed is in the audit trail.

    Example:
        >>> acl = ["vigil/lobby/+/armed/set"]
        >>> handler = CommandHandler("vigil", acl, arming, store, {("lobby", "loiter")})  # doctest: +SKIP
        >>> handler.handle("vigil/lobby/loiter/armed/set", b"OFF")  # doctest: +SKIP
        'disarmed loiter on lobby'
    """

    def __init__(self, prefix: str, acl: Collection[str], arming: RuleArming, store: AlertStore,
                 rules: Collection[tuple[str, str]], now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.prefix = prefix
        self._acl = tuple(acl)
        self._arming = arming
        self._store = store
        self._rules = frozenset(rules)
        self._now = now

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """What to subscribe to: every command topic, so that refused ones are logged too."""
        return f"{self.prefix}/+/+/armed/set", f"{self.prefix}/alerts/+/acknowledge"

    def handle(self, topic: str, payload: bytes) -> str | None:
        """Obey one command; returns what was done, or None when it was ignored."""
        if not any(topic_matches_sub(allowed, topic) for allowed in self._acl):
            return self._ignore(topic, "not allowed by notify.mqtt.command_acl")
        parts = topic.removeprefix(f"{self.prefix}/").split("/")
        text = payload.decode("utf-8", "replace").strip()
        if len(parts) == 3 and parts[0] == "alerts" and parts[2] == "acknowledge":
            return self._acknowledge(topic, parts[1], text)
        if len(parts) == 4 and parts[2:] == ["armed", "set"]:
            return self._arm(topic, parts[0], parts[1], text)
        return self._ignore(topic, "not a command topic")

    def _arm(self, topic: str, camera: str, rule: str, text: str) -> str | None:
        if (camera, rule) not in self._rules:
            return self._ignore(topic, f"no rule {rule!r} on camera {camera!r}")
        word = text.lower()
        if word not in _ON | _OFF:
            return self._ignore(topic, f"payload {text[:40]!r} is neither ON nor OFF")
        armed = word in _ON
        self._arming.set(camera, rule, armed, actor=ACTOR)
        return f"{'armed' if armed else 'disarmed'} {rule} on {camera}"

    def _acknowledge(self, topic: str, alert: str, text: str) -> str | None:
        if not alert.isdigit():
            return self._ignore(topic, f"alert id {alert[:20]!r} is not a number")
        note = text
        if text.startswith("{"):
            try:
                note = str(json.loads(text).get("note") or "")
            except (ValueError, AttributeError):
                return self._ignore(topic, "payload is not a JSON object")
        note = note[:_MAX_NOTE_CHARS] or None
        try:
            if (status := self._store.get(int(alert)).status) is not AlertStatus.NEW:
                return self._ignore(topic, f"alert {alert} is {status} already")
            self._store.set_status(int(alert), AlertStatus.ACKNOWLEDGED, ACTOR, note)
        except (AlertNotFound, InvalidTransition) as error:
            return self._ignore(topic, str(error))
        record(self._store.engine, AuditEntry(self._now(), ACTOR, AccountAction.ACKNOWLEDGE, alert, note or ""))
        return f"acknowledged alert {alert}"

    @staticmethod
    def _ignore(topic: str, why: str) -> None:
        log.warning("MQTT command on %s ignored: %s", topic[:200], why)
        return None
