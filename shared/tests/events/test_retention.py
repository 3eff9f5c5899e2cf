"""Retention and metrics: trimming respects the slowest group, pruning keeps the backlog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events_support import Scratch, Touched
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.events.retention import prune_inbox, prune_outbox, trim_stream
from shared.events.stats import refresh_outbox_gauge, refresh_stream_gauges
from shared.events.streams import dead_letter_stream, events_stream


async def test_trimming_never_drops_what_a_group_still_needs(
    scratch: Scratch, redis: Redis
) -> None:
    stream = events_stream(scratch.schema)
    ids = [await redis.xadd(stream, {"n": str(n)}) for n in range(10)]
    await redis.xgroup_create(stream, "slow", id="0")
    await redis.xgroup_create(stream, "fast", id="0")
    await redis.xreadgroup("fast", "f", {stream: ">"})
    await redis.xack(stream, "fast", *ids)
    # The slow group has read five entries and acknowledged the first three.
    await redis.xreadgroup("slow", "s", {stream: ">"}, count=5)
    await redis.xack(stream, "slow", *ids[:3])

    await trim_stream(redis, stream, retention_s=0, margin_s=0, approximate=False)
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == ids[3:]

    await redis.xack(stream, "slow", *ids[3:5])
    await trim_stream(redis, stream, retention_s=0, margin_s=0, approximate=False)
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == ids[5:]

    # Within the retention period nothing goes, even what every group is done with.
    await redis.xreadgroup("slow", "s", {stream: ">"})
    await redis.xack(stream, "slow", *ids)
    await trim_stream(redis, stream, retention_s=3600, margin_s=0, approximate=False)
    assert await redis.xlen(stream) == 5
    await trim_stream(redis, stream, retention_s=0, margin_s=0, approximate=False)
    assert await redis.xlen(stream) == 0


async def test_pruning_keeps_the_backlog_and_the_recent_archive(
    engine: AsyncEngine, scratch: Scratch
) -> None:
    outbox = scratch.outbox.table
    async with AsyncSession(engine) as session, session.begin():
        for seq in range(3):
            await scratch.outbox.publish(session, Touched(seq=seq), aggregate_id="a")
    async with engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(days=30)
        await conn.execute(update(outbox).where(outbox.c.id == 1).values(published_at=old))
        await conn.execute(update(outbox).where(outbox.c.id == 2).values(published_at=func.now()))

    assert await prune_outbox(engine, outbox, retention_s=7 * 24 * 3600) == 1
    async with engine.connect() as conn:
        assert list((await conn.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars()) == [
            2,
            3,
        ]
    assert await prune_inbox(engine, scratch.inbox, group="g", retention_s=0) == 0


async def test_gauges_report_lag_pending_dead_letters_and_backlog(
    engine: AsyncEngine, scratch: Scratch, redis: Redis
) -> None:
    stream, dead = events_stream(scratch.schema), dead_letter_stream(f"group_{scratch.schema}")
    for n in range(5):
        await redis.xadd(stream, {"n": str(n)})
    await redis.xgroup_create(stream, "g", id="0")
    await redis.xreadgroup("g", "c", {stream: ">"}, count=2)
    await redis.xadd(dead, {"n": "x"})
    async with AsyncSession(engine) as session, session.begin():
        await scratch.outbox.publish(session, Touched(seq=1), aggregate_id="a")

    await refresh_stream_gauges(redis, stream=stream, dead_letter_stream=dead)
    await refresh_outbox_gauge(engine, scratch.outbox.table)

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert sample("shop_events_stream_lag", stream=stream, group="g") == 3
    assert sample("shop_events_stream_pending", stream=stream, group="g") == 2
    assert sample("shop_events_dead_letter_length", stream=dead) == 1
    assert sample("shop_events_outbox_backlog", schema=scratch.schema) == 1
    # Written just now: young, but not in the future.
    assert (
        0 <= sample("shop_events_stream_oldest_pending_age_seconds", stream=stream, group="g") < 60
    )  # type: ignore[operator]
    assert 0 <= sample("shop_events_outbox_oldest_age_seconds", schema=scratch.schema) < 60  # type: ignore[operator]
