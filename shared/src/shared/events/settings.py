"""Tuning of the event backbone, embedded in every service's settings as `events`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EventSettings(BaseModel):
    """Batch sizes, timeouts and retention; override with e.g. `USERS_EVENTS__MAX_DELIVERIES`."""

    # Relay: outbox rows per transaction, and the poll that backs up LISTEN/NOTIFY.
    relay_batch_size: int = Field(default=500, ge=1)
    relay_poll_interval_seconds: float = Field(default=1.0, gt=0)
    # Consumer: entries per XREADGROUP, and how long one call blocks waiting for more.
    consumer_batch_size: int = Field(default=100, ge=1)
    consumer_block_seconds: float = Field(default=1.0, ge=0.001)
    # Entries one consumer handles at once, each in its own transaction (and acked when
    # it ends), entries of one aggregate (order) still one after another in stream order.
    # 1: batches of `consumer_batch_size` in one transaction, strictly in stream order.
    consumer_max_in_flight: int = Field(default=1, ge=1)
    # An entry pending this long (its consumer died or its handler failed) is re-tried.
    claim_idle_seconds: float = Field(default=30.0, ge=0.001)
    claim_interval_seconds: float = Field(default=5.0, gt=0)
    # After this many deliveries without success an entry goes to the dead-letter stream.
    max_deliveries: int = Field(default=5, ge=1)
    # Published outbox rows are an archive (the order-history rebuild reads it) for this long.
    outbox_retention_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    # Dedupe rows must outlive any redelivery or dead-letter replay of their event.
    inbox_retention_seconds: int = Field(default=14 * 24 * 3600, ge=0)
    # Stream entries older than this are trimmed, unless a group still needs them.
    stream_retention_seconds: int = Field(default=3 * 24 * 3600, ge=0)
    # Extra history kept behind the slowest group, for inspection and late replays.
    stream_trim_margin_seconds: int = Field(default=3600, ge=0)
    # How often pruning, trimming and the metric gauges run.
    maintenance_interval_seconds: float = Field(default=30.0, gt=0)
