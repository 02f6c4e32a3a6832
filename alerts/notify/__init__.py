"""Notifications: the durable outbox of alert and camera events, and the sinks that deliver it (MQTT, webhooks,
Apprise), each by a worker of its own, at least once and in order."""
