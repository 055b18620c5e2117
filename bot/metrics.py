"""Prometheus metrics, served at /metrics by the HTTP modes (Telegram webhook, Slack HTTP).

A registry per App keeps tests independent; the adapters expose `render(app)` on their web server.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "deskmate_messages_in_total",
            "Messages and button presses received",
            ["platform"],
            registry=self.registry,
        )
        self.messages_out = Counter(
            "deskmate_messages_out_total",
            "Messages delivered to a platform",
            ["platform"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "deskmate_handler_seconds",
            "Time to handle one incoming message",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_depth = Gauge(
            "deskmate_outbox_depth", "Messages waiting in the outbox", registry=self.registry
        )
        self.reminders_sent = Counter(
            "deskmate_reminders_total", "Reminders queued by scheduled work", ["kind"], registry=self.registry
        )
        self.errors = Counter(
            "deskmate_errors_total",
            "Handler failures answered with an error code",
            ["kind"],
            registry=self.registry,
        )

        self.inbox_parked = Counter(
            "deskmate_inbox_parked_total",
            "Updates parked after failing repeatedly (see `deskmate inbox list`)",
            registry=self.registry,
        )
        self.inbox_state = Gauge(
            "deskmate_inbox_rows",
            "Inbox rows by state, read at each scrape",
            ["state"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
