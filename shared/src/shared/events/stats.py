"""Refresh the backbone's gauges from Redis and PostgreSQL (called periodically)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.metrics import (
    DEAD_LETTERS,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    STREAM_LAG,
    STREAM_PENDING,
    STREAM_PENDING_AGE,
)


async def outbox_backlog(engine: AsyncEngine, outbox: Table) -> int:
    return (await _unpublished(engine, outbox))[0]


async def _unpublished(engine: AsyncEngine, outbox: Table) -> tuple[int, datetime | None]:
    """How many rows wait for the relay, and when the oldest of them was written."""
    async with engine.connect() as conn:
        query = select(func.count(), func.min(outbox.c.created_at)).where(
            outbox.c.published_at.is_(None)
        )
        count, oldest = (await conn.execute(query)).one()
        return int(count), oldest


async def refresh_outbox_gauge(engine: AsyncEngine, outbox: Table) -> None:
    count, oldest = await _unpublished(engine, outbox)
    schema = outbox.schema or ""
    OUTBOX_BACKLOG.labels(schema).set(count)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    OUTBOX_OLDEST_AGE.labels(schema).set(max(age, 0.0))


def _entry_age(entry_id: str | bytes | None) -> float:
    """Seconds since a stream entry was added: its id starts with the milliseconds."""
    if not entry_id:
        return 0.0
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return max(time.time() - int(text.split("-", 1)[0]) / 1000, 0.0)


async def refresh_stream_gauges(redis: Redis, *, stream: str, dead_letter_stream: str) -> None:
    """Lag and pending of every group of the stream, and the dead-letter length."""
    if await redis.exists(stream):
        for group in await redis.xinfo_groups(stream):
            # `lag` is null when Redis cannot tell (after deletions); pending still counts.
            if group.get("lag") is not None:
                STREAM_LAG.labels(stream, group["name"]).set(group["lag"])
            STREAM_PENDING.labels(stream, group["name"]).set(group["pending"])
            oldest = (
                (await redis.xpending(stream, group["name"]))["min"] if group["pending"] else None
            )
            STREAM_PENDING_AGE.labels(stream, group["name"]).set(_entry_age(oldest))
    DEAD_LETTERS.labels(dead_letter_stream).set(await redis.xlen(dead_letter_stream))
