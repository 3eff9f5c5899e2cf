"""Projection lag: when the newest event of a stream happened, minus when the newest
event the projector applied from it happened."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from prometheus_client import Gauge
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.history.archive import newest_applied

PROJECTION_LAG = Gauge(
    "shop_history_projection_lag_seconds",
    "Newest event time on the stream minus the newest event time the projector applied.",
    ["stream"],
)


async def newest_event_time(redis: Redis, stream: str) -> datetime | None:
    """occurred_at of the last entry of the stream; None when it is empty."""
    entries = await redis.xrevrange(stream, count=1)
    if not entries:
        return None
    _entry_id, fields = entries[0]
    envelope = json.loads((fields or {}).get("envelope", "{}"))
    occurred_at = envelope.get("occurred_at")
    return datetime.fromisoformat(occurred_at) if occurred_at else None


async def measure_lag(
    redis: Redis, engine: AsyncEngine, streams: dict[str, str]
) -> dict[str, float]:
    """Refresh the gauge for each stream (stream -> producer) and return the values."""
    lags: dict[str, float] = {}
    async with engine.connect() as conn:
        for stream, producer in streams.items():
            newest = await newest_event_time(redis, stream)
            applied = await newest_applied(conn, producer)
            if newest is None:
                lag = 0.0
            elif applied is None:
                # Nothing applied yet: behind by as long as the newest event has waited.
                lag = (datetime.now(UTC) - newest).total_seconds()
            else:
                lag = (newest - applied).total_seconds()
            lags[stream] = max(lag, 0.0)
            PROJECTION_LAG.labels(stream).set(lags[stream])
    return lags
