"""Retention: prune the outbox archive and the inbox, trim streams by age.

Streams are trimmed by time (XTRIM MINID), never by length, and never past the oldest
entry a consumer group still needs (its pending entries and everything it has not read).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Table, delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.streams import format_id, parse_id

PRUNE_BATCH = 10_000


async def prune_outbox(engine: AsyncEngine, outbox: Table, *, retention_s: int) -> int:
    """Delete published rows older than the retention period, in bounded batches."""
    cutoff = text(f"now() - interval '{int(retention_s)} seconds'")
    doomed = (
        select(outbox.c.id)
        .where(outbox.c.published_at < cutoff)
        .limit(PRUNE_BATCH)
        .scalar_subquery()
    )
    return await _delete_in_batches(engine, delete(outbox).where(outbox.c.id.in_(doomed)))


async def prune_inbox(engine: AsyncEngine, inbox: Table, *, group: str, retention_s: int) -> int:
    """Forget dedupe rows of a group older than the retention period."""
    cutoff = text(f"now() - interval '{int(retention_s)} seconds'")
    doomed = (
        select(inbox.c.event_id)
        .where(inbox.c.consumer_group == group, inbox.c.handled_at < cutoff)
        .limit(PRUNE_BATCH)
        .scalar_subquery()
    )
    statement = delete(inbox).where(inbox.c.consumer_group == group, inbox.c.event_id.in_(doomed))
    return await _delete_in_batches(engine, statement)


async def _delete_in_batches(engine: AsyncEngine, statement: Any) -> int:
    # Short transactions keep a large first prune from holding locks for long.
    total = 0
    while True:
        async with engine.begin() as conn:
            deleted = (await conn.execute(statement)).rowcount
        total += deleted
        if deleted < PRUNE_BATCH:
            return total


async def oldest_needed_id(redis: Redis, stream: str) -> tuple[int, int] | None:
    """The smallest id any group of the stream still needs; None when there is no group."""
    needed: tuple[int, int] | None = None
    for group in await redis.xinfo_groups(stream):
        # Entries after the last delivered one are unread; pending ones are unacknowledged.
        candidate = parse_id(group["last-delivered-id"])
        candidate = (candidate[0], candidate[1] + 1)
        if group["pending"]:
            summary = await redis.xpending(stream, group["name"])
            if summary["min"] is not None:  # acknowledged since XINFO
                candidate = min(candidate, parse_id(summary["min"]))
        needed = candidate if needed is None else min(needed, candidate)
    return needed


async def trim_stream(
    redis: Redis,
    stream: str,
    *,
    retention_s: int,
    margin_s: int,
    approximate: bool = True,
) -> str | None:
    """Trim entries older than the retention, keeping `margin_s` behind the slowest group.

    Returns the MINID used, or None when the stream does not exist. `approximate` lets
    Redis trim whole macro nodes only, which is cheaper and only ever keeps more.
    """
    if not await redis.exists(stream):
        return None
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    min_id = (max(now_ms - retention_s * 1000, 0), 0)
    needed = await oldest_needed_id(redis, stream)
    if needed is not None:
        min_id = min(min_id, (max(needed[0] - margin_s * 1000, 0), needed[1]))
    await redis.xtrim(stream, minid=format_id(min_id), approximate=approximate)
    return format_id(min_id)
