"""Scratch tables, a test event and its handlers, shared by the tests and the consumer
subprocess (`consumer_process.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import service_metadata
from shared.events.envelope import Envelope, EventCatalog, EventPayload
from shared.events.handlers import EventHandlers
from shared.events.inbox import inbox_table
from shared.events.outbox import Outbox

catalog = EventCatalog("events_test")


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
