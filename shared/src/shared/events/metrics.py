"""Prometheus metrics of the event backbone (served by each service's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "shop_events_published_total", "Outbox rows the relay added to a stream.", ["stream"]
)
EVENTS_HANDLED = Counter(
    "shop_events_handled_total",
    "Stream entries a consumer finished, by outcome "
    "(handled, duplicate, ignored, unknown, failed, dead_lettered).",
    ["stream", "group", "outcome"],
)
EVENTS_UNKNOWN = Counter(
    "shop_events_unknown_total",
    "Stream entries of a type the group neither handles nor ignores (acknowledged).",
    ["stream", "type"],
)
OUTBOX_BACKLOG = Gauge("shop_events_outbox_backlog", "Outbox rows not yet published.", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "shop_events_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits).",
    ["schema"],
)
STREAM_LAG = Gauge(
    "shop_events_stream_lag",
    "Entries of a stream not yet delivered to a group.",
    ["stream", "group"],
)
STREAM_PENDING = Gauge(
    "shop_events_stream_pending",
    "Entries delivered to a group and not yet acknowledged.",
    ["stream", "group"],
)
STREAM_PENDING_AGE = Gauge(
    "shop_events_stream_oldest_pending_age_seconds",
    "Age of the oldest entry delivered to a group and not yet acknowledged (0 when none).",
    ["stream", "group"],
)
DEAD_LETTERS = Gauge(
    "shop_events_dead_letter_length", "Entries waiting in a dead-letter stream.", ["stream"]
)
