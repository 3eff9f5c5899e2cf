"""Deliveries that end on the infrastructure, not on the entry, do not count towards
`max_deliveries`: a pool with every connection busy, or a consumer stopped mid-entry (a
deploy), never walks an entry to the dead-letter stream; each entry is handled once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from events_support import (
    Behaviour,
    Scratch,
    Touched,
    consuming,
    group_settled,
    publish_touched,
    scratch_consumer,
    touched_handlers,
)
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.events.streams import dead_letter_stream, events_stream
from shared.testing import eventually_async as eventually

# One aggregate each: all of them may be in flight at once.
EVENTS = [(f"agg-{seq}", Touched(seq=seq)) for seq in range(12)]
SEQS = set(range(12))


@pytest.fixture
async def crowded(database_url: str) -> AsyncIterator[AsyncEngine]:
    """One pooled connection, a short wait for it: most entries in flight find it busy."""
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    yield engine
    await engine.dispose()


@pytest.fixture
def strict(settings: EventSettings) -> EventSettings:
    """Six entries in flight, and an entry dead-lettered after its second failure."""
    return settings.model_copy(update={"consumer_max_in_flight": 6, "max_deliveries": 2})


async def drain(consumer: StreamConsumer, redis: Redis) -> int:
    """Consume until every entry is acknowledged; returns the dead letters' count."""

    async def settled() -> bool:
        return await group_settled(redis, consumer.stream, consumer.group)

    async with consuming(consumer):
        await eventually(settled, seconds=60, what="every entry acknowledged")
    return int(await redis.xlen(dead_letter_stream(consumer.group)))


async def test_entries_waiting_for_a_busy_pool_are_handled_once_never_dead_lettered(
    engine: AsyncEngine,
    crowded: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    strict: EventSettings,
) -> None:
    await publish_touched(engine, redis, scratch, strict, EVENTS)
    handlers = touched_handlers(scratch, Behaviour(sleep_seconds=0.1))
    assert await drain(scratch_consumer(crowded, redis, scratch, strict, handlers), redis) == 0
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(scratch.effects.c.seq, func.count()).group_by(scratch.effects.c.seq)
        )
        assert dict(rows.all()) == dict.fromkeys(SEQS, 1)


async def test_a_task_whose_own_transaction_waits_for_a_busy_pool_is_not_dead_lettered(
    engine: AsyncEngine,
    crowded: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    strict: EventSettings,
) -> None:
    """A task route (the payments processor's charge) opens its own transactions: a pool
    timeout there is the pool's, not the event's."""
    await publish_touched(engine, redis, scratch, strict, EVENTS)
    sessions = async_sessionmaker(crowded)
    done: Counter[int] = Counter()
    handlers = EventHandlers()

    @handlers.task(Touched.event_type, Touched)
    async def handle(event: Envelope[Touched]) -> None:
        async with sessions() as session, session.begin():
            await session.execute(text("SELECT pg_sleep(0.1)"))
        done[event.payload.seq] += 1

    assert await drain(scratch_consumer(crowded, redis, scratch, strict, handlers), redis) == 0
    assert set(done) == SEQS


async def test_a_consumer_stopped_mid_entry_gives_the_delivery_back(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    """A deploy stops consumers while they handle entries: with `max_deliveries` 1 the
    entry's next delivery is still its first, so it is handled, not dead-lettered."""
    once = settings.model_copy(update={"consumer_max_in_flight": 4, "max_deliveries": 1})
    await publish_touched(engine, redis, scratch, once, EVENTS)
    started: set[int] = set()
    release = asyncio.Event()
    done: set[int] = set()
    handlers = EventHandlers()

    @handlers.task(Touched.event_type, Touched)
    async def handle(event: Envelope[Touched]) -> None:
        started.add(event.payload.seq)
        await release.wait()
        done.add(event.payload.seq)

    async def four_in_flight() -> bool:
        return len(started) == 4

    async with consuming(scratch_consumer(engine, redis, scratch, once, handlers)):
        await eventually(four_in_flight, what="four entries in flight")
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    waiting = await redis.xpending_range(stream, group, min="-", max="+", count=len(EVENTS))
    assert [int(row["times_delivered"]) for row in waiting] == [0] * 4

    release.set()
    assert await drain(scratch_consumer(engine, redis, scratch, once, handlers), redis) == 0
    assert done == SEQS
