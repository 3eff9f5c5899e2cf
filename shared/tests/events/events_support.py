"""Scratch tables, a test event and its handlers, shared by the tests and the consumer
subprocess (`consumer_process.py`); and the tests' ways to publish, consume and wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Identity,
    Integer,
    String,
    Table,
    Uuid,
    insert,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import service_metadata
from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope, EventCatalog, EventPayload
from shared.events.handlers import EventHandlers
from shared.events.inbox import inbox_table
from shared.events.outbox import Outbox
from shared.events.relay import OutboxRelay
from shared.events.settings import EventSettings
from shared.events.streams import events_stream

catalog = EventCatalog("events_test")
STOP_TIMEOUT_S = 30  # a cancelled consumer ends within this, or its test fails


@catalog.declare(version=1)
class Touched(EventPayload):
    """A test aggregate was touched; `seq` counts per aggregate."""

    seq: int
    poison: bool = False


@dataclass
class Scratch:
    """A service schema of its own: outbox, inbox, and an `effects` table handlers write."""

    schema: str
    outbox: Outbox
    inbox: Table
    effects: Table


def scratch_tables(schema: str) -> Scratch:
    metadata = service_metadata(schema)
    outbox = Outbox(metadata)
    inbox = inbox_table(metadata)
    # No unique constraint on purpose: a second effect of one event must be countable.
    effects = Table(
        "effects",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False),
        Column("aggregate_id", String(200), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("consumer", String(200), nullable=False),
        Column("poison", Boolean, nullable=False),
    )
    return Scratch(schema, outbox, inbox, effects)


@dataclass
class Behaviour:
    """What the test handler does besides writing its effect."""

    consumer: str = "test"
    poisoned: bool = True  # the "cause" of poison events; tests fix it by clearing it
    attempts: dict[str, int] = field(default_factory=dict)
    on_seq: Callable[[int], None] | None = None
    sleep_seconds: float = 0.0  # holds its connection this long (in PostgreSQL)


def touched_handlers(scratch: Scratch, behaviour: Behaviour) -> EventHandlers:
    handlers = EventHandlers()

    @handlers.on(Touched.event_type, Touched)
    async def on_touched(session: AsyncSession, event: Envelope[Touched]) -> None:
        key = str(event.event_id)
        behaviour.attempts[key] = behaviour.attempts.get(key, 0) + 1
        await session.execute(
            insert(scratch.effects).values(
                event_id=event.event_id,
                aggregate_id=event.aggregate_id,
                seq=event.payload.seq,
                consumer=behaviour.consumer,
                poison=event.payload.poison,
            )
        )
        if behaviour.sleep_seconds:
            await session.execute(text("SELECT pg_sleep(:s)"), {"s": behaviour.sleep_seconds})
        if event.payload.poison and behaviour.poisoned:
            raise RuntimeError("poisoned event")
        if behaviour.on_seq is not None:
            behaviour.on_seq(event.payload.seq)

    return handlers


def scratch_relay(
    engine: AsyncEngine, redis: Redis, scratch: Scratch, settings: EventSettings
) -> OutboxRelay:
    """A relay of the scratch outbox to its stream (`close()` it: its connection holds the
    relay lock)."""
    return OutboxRelay(
        engine=engine,
        outbox=scratch.outbox,
        redis=redis,
        stream=events_stream(scratch.schema),
        settings=settings,
    )


async def publish_touched(
    engine: AsyncEngine,
    redis: Redis,
    scratch: Scratch,
    settings: EventSettings,
    events: list[tuple[str, Touched]],
) -> list[str]:
    """(aggregate id, payload) events through the outbox, relayed to the stream in order;
    returns their event ids."""
    async with AsyncSession(engine) as session, session.begin():
        envelopes = [
            await scratch.outbox.publish(session, payload, aggregate_id=aggregate)
            for aggregate, payload in events
        ]
    relay = scratch_relay(engine, redis, scratch, settings)
    try:
        assert await relay.publish_pending() == len(events)
    finally:
        await relay.close()
    return [str(envelope.event_id) for envelope in envelopes]


def scratch_consumer(
    engine: AsyncEngine,
    redis: Redis,
    scratch: Scratch,
    settings: EventSettings,
    handlers: EventHandlers,
    name: str = "c1",
) -> StreamConsumer:
    """A consumer of the scratch schema's stream, as group `group_<schema>`."""
    return StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=scratch.inbox,
        group=f"group_{scratch.schema}",
        stream=events_stream(scratch.schema),
        handlers=handlers,
        settings=settings,
        name=name,
    )


@contextlib.asynccontextmanager
async def consuming(consumer: StreamConsumer) -> AsyncIterator[asyncio.Task[None]]:
    """Run the consumer for the block; its own error, if it stopped on one, is raised."""
    task = asyncio.create_task(consumer.run())
    try:
        yield task
        if task.done():
            task.result()
    finally:
        task.cancel()
        # Bounded: a consumer that outlives its cancellation fails here, by name, instead
        # of hanging the suite until pytest-timeout (docs/events.md, "Workers and
        # periodic jobs").
        done, _ = await asyncio.wait([task], timeout=STOP_TIMEOUT_S)
        if not done:
            raise AssertionError(
                f"consumer {consumer.name} still ran {STOP_TIMEOUT_S} s after cancel"
            )
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()


async def group_settled(redis: Redis, stream: str, group: str) -> bool:
    """Everything delivered to the group and acknowledged."""
    groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
    return group in groups and groups[group]["lag"] == 0 and groups[group]["pending"] == 0
