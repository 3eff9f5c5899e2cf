"""What an event costs a consumer in round trips: autocommit handlers (one idempotent
statement per event, no transaction, no inbox row), and a batch's XACK sent with the
next XREADGROUP."""

from __future__ import annotations

import pytest
from events_support import (
    Scratch,
    Touched,
    consuming,
    group_settled,
    publish_touched,
    scratch_consumer,
)
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.events.streams import dead_letter_stream, events_stream
from shared.testing import count_statements
from shared.testing import eventually_async as eventually


def effect_handlers(scratch: Scratch, *, autocommit: bool) -> EventHandlers:
    """Each event's effect in one statement, idempotent by itself (a batch that is tried
    again runs its autocommit entries again), which fails in the database for a poison
    event (a division by zero), so a failure writes nothing even in autocommit."""
    handlers = EventHandlers()
    insert_effect = text(
        f'INSERT INTO "{scratch.schema}".effects (event_id, aggregate_id, seq, consumer, poison)'
        " SELECT :event_id, :aggregate_id, :seq, 'test', :poison"
        " WHERE 1 / (CASE WHEN :poison THEN 0 ELSE 1 END) = 1"
        f' AND NOT EXISTS (SELECT FROM "{scratch.schema}".effects WHERE event_id = :event_id)'
    )

    async def apply(session: AsyncSession, event: Envelope[Touched]) -> None:
        params = {
            "event_id": event.event_id,
            "aggregate_id": event.aggregate_id,
            "seq": event.payload.seq,
            "poison": event.payload.poison,
        }
        await session.execute(insert_effect, params)

    register = handlers.autocommit if autocommit else handlers.on
    register(Touched.event_type, Touched)(apply)
    return handlers


async def effects(engine: AsyncEngine, scratch: Scratch) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f'SELECT seq FROM "{scratch.schema}".effects ORDER BY seq'))
        return [row.seq for row in rows]


async def inbox_rows(engine: AsyncEngine, scratch: Scratch) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(scratch.inbox)) or 0)


def quiet(settings: EventSettings) -> EventSettings:
    """No reclaim or housekeeping due within the test: a poll reads and handles only."""
    return settings.model_copy(
        update={"claim_interval_seconds": 3600.0, "maintenance_interval_seconds": 3600.0}
    )


async def poll_once(consumer: StreamConsumer) -> None:
    await consumer.start()
    await consumer.poll()  # the first poll's reclaim and housekeeping, on an empty stream


@pytest.mark.parametrize(
    ("autocommit", "statements", "round_trips"),
    [(True, 3, 3), (False, 4, 6)],  # transactional: the inbox row, BEGIN and COMMIT more
)
async def test_an_autocommit_handler_costs_one_round_trip_per_event(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    autocommit: bool,
    statements: int,
    round_trips: int,
) -> None:
    consumer = scratch_consumer(
        engine, redis, scratch, quiet(settings), effect_handlers(scratch, autocommit=autocommit)
    )
    await poll_once(consumer)
    events = [("agg", Touched(seq=n)) for n in range(3)]
    await publish_touched(engine, redis, scratch, settings, events)
    with count_statements(engine) as counted:
        assert await consumer.poll() == 3
    assert (counted.count, counted.round_trips) == (statements, round_trips), counted.statements
    assert await effects(engine, scratch) == [0, 1, 2]
    assert await inbox_rows(engine, scratch) == (0 if autocommit else 3)


async def test_a_failing_autocommit_statement_writes_nothing_and_is_dead_lettered(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    stream = events_stream(scratch.schema)
    group = f"group_{scratch.schema}"
    events = [("agg", Touched(seq=n, poison=(n == 1))) for n in range(3)]
    ids = await publish_touched(engine, redis, scratch, settings, events)
    consumer = scratch_consumer(
        engine, redis, scratch, settings, effect_handlers(scratch, autocommit=True)
    )

    async def parked() -> bool:
        return await redis.xlen(dead_letter_stream(group)) == 1

    async with consuming(consumer):
        await eventually(parked, what="the poison event dead-lettered")
        await eventually(lambda: group_settled(redis, stream, group), what="every entry acked")
    assert await effects(engine, scratch) == [0, 2]
    letter = (await redis.xrange(dead_letter_stream(group)))[0][1]
    assert letter["event_id"] == ids[1]
    assert "division by zero" in letter["error"]


class CountingConnection(Connection):
    """A real connection that counts its round trips (a pipeline is one)."""

    sends = 0

    async def send_packed_command(self, command: object, check_health: bool = True) -> None:
        type(self).sends += 1
        await super().send_packed_command(command, check_health)  # type: ignore[arg-type]


async def test_a_batch_is_acknowledged_with_the_next_read(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, redis_url: str, settings: EventSettings
) -> None:
    counting = Redis.from_url(redis_url, decode_responses=True, connection_class=CountingConnection)
    consumer = scratch_consumer(
        engine, counting, scratch, quiet(settings), effect_handlers(scratch, autocommit=True)
    )
    try:
        await poll_once(consumer)
        events = [("agg", Touched(seq=n)) for n in range(3)]
        await publish_touched(engine, redis, scratch, settings, events)
        CountingConnection.sends = 0
        assert await consumer.poll() == 3  # XREADGROUP, then the handlers
        assert await consumer.poll() == 0  # XACK of the batch and XREADGROUP, one round trip
        assert CountingConnection.sends == 2
        stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
        assert await group_settled(redis, stream, group)
        assert await effects(engine, scratch) == [0, 1, 2]
    finally:
        await counting.aclose()
