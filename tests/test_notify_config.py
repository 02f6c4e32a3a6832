"""The `notify:` section: errors that name the field and never show a secret; secrets masked in logs."""

from __future__ import annotations

import logging

import pytest

from streamer.redaction import redact_text
from vigil.config import ConfigError, load_config

CAMERAS = {"lobby": {"url": "rtsp://cam/1"}}
RULES = [{"name": "seen", "kind": "presence", "classes": ["person"]}]


def problems(write_config, notify: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_config(write_config({"cameras": CAMERAS, "rules": RULES, "notify": notify}))
    return error.value.problems


def test_bad_sinks_are_refused_naming_the_field_without_showing_secrets(write_config, monkeypatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "short")
    found = problems(write_config, {
        "mqtt": {"url": "http://broker:1883", "commands": True},
        "webhooks": [{"url": "https://hooks.example/T0KEN-in-the-path", "secret": "${HOOK_SECRET}",
                      "rules": ["sneaky"], "min_severity": "loud"},
                     {"url": "ftp://hooks.example/x", "secret": "s" * 20, "cameras": ["garage"]}],
        "apprise": [{"url": "tgram://bot-T0KEN-123456/", "quiet_hours": {"start": "25:00", "end": "07:00"}},
                    {"url": "json://127.0.0.1/x", "quiet_hours": {"start": "23:00", "end": "07:00",
                                                                 "timezone": "Mars/Olympus"}},
                    {"url": "json://127.0.0.1/y", "quiet_hours": {"timezone": "Europe/Paris"}}],
    })
    hidden = "(the value is not shown: it may hold a token or password)"
    assert found == [
        f"notify.mqtt.url: unsupported scheme 'http'; use mqtt:// or mqtts:// {hidden}",
        "notify.webhooks.0.min_severity: Input should be 'info', 'warning' or 'critical' (got 'loud')",
        "notify.webhooks.0.secret: String should have at least 16 characters (the value comes from ${HOOK_SECRET} "
        "and is not shown)",
        f"notify.webhooks.1.url: must be an http:// or https:// URL with a host {hidden}",
        "notify.apprise.0.url: Apprise cannot use this URL (scheme 'tgram'): unknown service, or a part of it is "
        f"missing or malformed {hidden}",
        "notify.apprise.0.quiet_hours: bad time '25:00', expected HH:MM (got {'start': '25:00', 'end': '07:00'})",
        "notify.apprise.1.quiet_hours: unknown timezone 'Mars/Olympus', expected an IANA name such as "
        "'Europe/Paris' (got {'start': '23:00', 'end': '07:00', 'timezone': 'Mars/Olympus'})",
        "notify.apprise.2.quiet_hours: give the window's start and end (HH:MM) (got {'timezone': 'Europe/Paris'})",
    ]
    assert not logging.getLogger("apprise").disabled


def test_filters_must_name_known_rules_and_cameras_and_commands_need_an_acl(write_config) -> None:
    assert problems(write_config, {"mqtt": {"url": "mqtt://broker", "commands": True}}) == [
        "notify.mqtt: command_acl: required when commands is true (the topics whose commands are obeyed) (the value "
        "is not shown: it may hold a token or password)"]
    assert problems(write_config, {"mqtt": {"url": "mqtt://broker", "commands": True, "command_acl": ["other/#"]}}) == [
        "notify.mqtt: command_acl: 'other/#' is outside the topic prefix 'vigil' (the value is not shown: it may hold "
        "a token or password)"]
    assert problems(write_config, {"webhooks": [
        {"url": "https://h.example/x", "secret": "s" * 20, "rules": ["sneaky"], "cameras": ["garage"], "name": "ops"},
        {"url": "https://h.example/y", "secret": "s" * 20, "name": "ops"},
    ]}) == [
        "notify.webhooks.0.cameras.0: unknown camera 'garage'",
        "notify.webhooks.0.rules.0: unknown rule 'sneaky'",
        "notify.webhooks.1.name: duplicate sink name 'ops'",
    ]


def test_passwords_secrets_and_tokens_of_a_good_config_are_masked_in_logs(write_config, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MQTT_PASSWORD", "broker-pass-42")
    monkeypatch.setenv("HOOK_SECRET", "hook-secret-0123456789")
    config = load_config(write_config({"cameras": CAMERAS, "rules": RULES, "notify": {
        "mqtt": {"url": "mqtt://vigil:${MQTT_PASSWORD}@broker:1883"},
        "webhooks": [{"url": "https://hooks.example/services/T01ABCDEF/B02GHIJKL", "secret": "${HOOK_SECRET}"}],
        "apprise": [{"url": "tgram://123456789:AAE-bot-token-xyz/-100200300", "min_severity": "critical",
                     "rate_limit_per_min": 6, "quiet_hours": {"start": "23:00", "end": "07:00",
                                                              "timezone": "Europe/Paris"}}],
    }}))
    assert [name for _, name, _ in config.notify.sinks()] == ["mqtt", "webhook-1", "apprise-1"]
    leaked = ("mqtt://vigil:broker-pass-42@broker:1883 hook-secret-0123456789 "
              "tgram://123456789:AAE-bot-token-xyz/-100200300")
    masked = redact_text(leaked)
    for secret in ("broker-pass-42", "hook-secret-0123456789", "AAE-bot-token-xyz", "123456789:AAE"):
        assert secret not in masked, masked
