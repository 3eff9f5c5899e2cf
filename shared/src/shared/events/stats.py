"""Refresh the backbone's gauges from Redis and PostgreSQL (called periodically)."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.metrics import DEAD_LETTERS, OUTBOX_BACKLOG, STREAM_LAG, STREAM_PENDING


async def outbox_backlog(engine: AsyncEngine, outbox: Table) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(outbox.c.published_at.is_(None))
        return int((await conn.execute(query)).scalar_one())


async def refresh_outbox_gauge(engine: AsyncEngine, outbox: Table) -> None:
    OUTBOX_BACKLOG.labels(outbox.schema or "").set(await outbox_backlog(engine, outbox))


async def refresh_stream_gauges(redis: Redis, *, stream: str, dead_letter_stream: str) -> None:
    """Lag and pending of every group of the stream, and the dead-letter length."""
    if await redis.exists(stream):
        for group in await redis.xinfo_groups(stream):
            # `lag` is null when Redis cannot tell (after deletions); pending still counts.
            if group.get("lag") is not None:
                STREAM_LAG.labels(stream, group["name"]).set(group["lag"])
            STREAM_PENDING.labels(stream, group["name"]).set(group["pending"])
    DEAD_LETTERS.labels(dead_letter_stream).set(await redis.xlen(dead_letter_stream))
