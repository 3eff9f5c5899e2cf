"""Deliveries that end on the infrastructure, not on the entry, do not count towards
`max_deliveries`: a pool with every connection busy, or a consumer stopped mid-entry (a
deploy), never walks an entry to the dead-letter stream; each entry is handled once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from events_support import Behaviour, Scratch, Touched, touched_handlers
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.relay import OutboxRelay
from shared.events.settings import EventSettings
from shared.events.streams import dead_letter_stream, events_stream
from shared.testing import eventually_async as eventually

EVENTS = 12


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


async def publish(
    engine: AsyncEngine, redis: Redis, scratch: Scratch, settings: EventSettings
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        for seq in range(EVENTS):
            await scratch.outbox.publish(session, Touched(seq=seq), aggregate_id=f"agg-{seq}")
    relay = OutboxRelay(
        engine=engine,
        outbox=scratch.outbox,
        redis=redis,
        stream=events_stream(scratch.schema),
        settings=settings,
    )
    assert await relay.publish_pending() == EVENTS


def consumer(
    engine: AsyncEngine,
    redis: Redis,
    scratch: Scratch,
    settings: EventSettings,
    handlers: EventHandlers,
) -> StreamConsumer:
    return StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=scratch.inbox,
        group=f"group_{scratch.schema}",
        stream=events_stream(scratch.schema),
        handlers=handlers,
        settings=settings,
        name="c1",
    )


@contextlib.asynccontextmanager
async def running(consumer: StreamConsumer) -> AsyncIterator[None]:
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def settled(redis: Redis, scratch: Scratch) -> bool:
    groups = await redis.xinfo_groups(events_stream(scratch.schema))
    return bool(groups) and groups[0]["lag"] == 0 and groups[0]["pending"] == 0


async def test_entries_waiting_for_a_busy_pool_are_handled_once_never_dead_lettered(
    engine: AsyncEngine,
    crowded: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    strict: EventSettings,
) -> None:
    await publish(engine, redis, scratch, strict)
    behaviour = Behaviour(sleep_seconds=0.1)
    async with running(
        consumer(crowded, redis, scratch, strict, touched_handlers(scratch, behaviour))
    ):
        await eventually(lambda: settled(redis, scratch), seconds=60, what="every entry acked")
    assert await redis.xlen(dead_letter_stream(f"group_{scratch.schema}")) == 0
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(scratch.effects.c.seq, func.count()).group_by(scratch.effects.c.seq)
        )
        assert dict(rows.all()) == dict.fromkeys(range(EVENTS), 1)


async def test_a_task_whose_own_transaction_waits_for_a_busy_pool_is_not_dead_lettered(
    engine: AsyncEngine,
    crowded: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    strict: EventSettings,
) -> None:
    """A task route (the payments processor's charge) opens its own transactions: a pool
    timeout there is the pool's, not the event's."""
    await publish(engine, redis, scratch, strict)
    sessions = async_sessionmaker(crowded)
    done: Counter[int] = Counter()
    handlers = EventHandlers()

    @handlers.task(Touched.event_type, Touched)
    async def handle(event: Envelope[Touched]) -> None:
        async with sessions() as session, session.begin():
            await session.execute(text("SELECT pg_sleep(0.1)"))
        done[event.payload.seq] += 1

    async with running(consumer(crowded, redis, scratch, strict, handlers)):
        await eventually(lambda: settled(redis, scratch), seconds=60, what="every entry acked")
    assert await redis.xlen(dead_letter_stream(f"group_{scratch.schema}")) == 0
    assert set(done) == set(range(EVENTS))


async def test_a_consumer_stopped_mid_entry_gives_the_delivery_back(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    """A deploy stops consumers while they handle entries: with `max_deliveries` 1 the
    entry's next delivery is still its first, so it is handled, not dead-lettered."""
    once = settings.model_copy(update={"consumer_max_in_flight": 4, "max_deliveries": 1})
    await publish(engine, redis, scratch, once)
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

    async with running(consumer(engine, redis, scratch, once, handlers)):
        await eventually(four_in_flight, what="four entries in flight")
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    waiting = await redis.xpending_range(stream, group, min="-", max="+", count=EVENTS)
    assert [int(row["times_delivered"]) for row in waiting] == [0] * 4

    release.set()
    async with running(consumer(engine, redis, scratch, once, handlers)):
        await eventually(lambda: settled(redis, scratch), seconds=60, what="every entry acked")
    assert await redis.xlen(dead_letter_stream(group)) == 0
    assert done == set(range(EVENTS))
