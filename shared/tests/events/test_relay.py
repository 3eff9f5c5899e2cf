"""Outbox and relay: only committed events go out, once, in order, through outages."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from asgi_correlation_id import correlation_id
from events_support import Behaviour, Scratch, Touched, scratch_relay, touched_handlers
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.relay import OutboxRelay
from shared.events.settings import EventSettings
from shared.events.streams import events_stream, parse_entries
from shared.testing import count_statements, free_port
from shared.testing import eventually_async as eventually

MakeRelay = Callable[..., OutboxRelay]


@pytest.fixture
async def make_relay(
    engine: AsyncEngine, scratch: Scratch, redis: Redis
) -> AsyncIterator[MakeRelay]:
    """Relays on the scratch outbox; each one's own connection is closed after the test."""
    made: list[OutboxRelay] = []

    def make(settings: EventSettings, *, to: Redis = redis) -> OutboxRelay:
        relay = scratch_relay(engine, to, scratch, settings)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        await relay.close()


@contextlib.asynccontextmanager
async def running(*coroutines: object) -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks = [asyncio.create_task(c) for c in coroutines]  # type: ignore[arg-type]
    try:
        yield tasks
        for task in tasks:
            if task.done():
                task.result()  # surfaces the exception that ended it
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def relay_lock_key(scratch: Scratch) -> Any:
    return func.hashtext(f"{scratch.schema}.outbox")


async def publish(engine: AsyncEngine, scratch: Scratch, *, aggregate: str, seq: int) -> str:
    async with AsyncSession(engine) as session, session.begin():
        envelope = await scratch.outbox.publish(session, Touched(seq=seq), aggregate_id=aggregate)
    return str(envelope.event_id)


async def stream_events(redis: Redis, stream: str) -> list[Envelope[Touched]]:
    entries = parse_entries(await redis.xrange(stream))
    return [Envelope[Touched].model_validate_json(e.envelope_json) for e in entries]


async def unpublished(engine: AsyncEngine, scratch: Scratch) -> int:
    outbox = scratch.outbox.table
    async with engine.connect() as conn:
        query = select(func.count()).where(outbox.c.published_at.is_(None))
        return int((await conn.execute(query)).scalar_one())


async def test_only_a_committed_event_is_published_and_only_once(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    relay = make_relay(settings)
    async with AsyncSession(engine) as session:
        async with session.begin():
            await scratch.outbox.publish(session, Touched(seq=1), aggregate_id="a")
            await session.rollback()
        token = correlation_id.set("req-123")
        try:
            async with session.begin():
                committed = await scratch.outbox.publish(session, Touched(seq=2), aggregate_id="a")
        finally:
            correlation_id.reset(token)

    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0

    events = await stream_events(redis, events_stream(scratch.schema))
    assert [e.event_id for e in events] == [committed.event_id]
    event = events[0]
    assert event.type == "events_test.Touched"
    assert event.version == 1
    assert event.producer == "events_test"
    assert event.correlation_id == "req-123"
    assert event.aggregate_id == "a"
    assert event.payload == Touched(seq=2)
    assert event.occurred_at.tzinfo is not None
    assert await unpublished(engine, scratch) == 0


async def test_a_relay_pass_is_two_statements_on_its_own_connection(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    """The relay reads a batch and marks it on a connection of its own, outside the
    engine's pool, where it holds the relay lock from its first pass on: two statements
    in autocommit per batch (three before: BEGIN, the lock and marks, COMMIT)."""
    relay = make_relay(settings)
    await publish(engine, scratch, aggregate="a", seq=0)
    assert await relay.publish_batch() == 1  # takes the lock
    for seq in range(1, 4):
        await publish(engine, scratch, aggregate="a", seq=seq)
    queries: list[str] = []
    (await relay.connection.connect()).add_query_logger(lambda q: queries.append(q.query))
    with count_statements(engine) as statements:
        assert await relay.publish_batch() == 3
    await asyncio.sleep(0)  # asyncpg calls its query loggers soon after, not at once
    assert statements.count == 0, statements.statements
    assert [q.split()[0] for q in queries] == ["SELECT", "UPDATE"], queries
    events = await stream_events(redis, events_stream(scratch.schema))
    assert [e.payload.seq for e in events] == [0, 1, 2, 3]
    assert await unpublished(engine, scratch) == 0


async def test_a_standby_relay_takes_over_when_the_leader_stops(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    """The relay lock is its connection's: held between passes, so a second relay (another
    replica's) publishes nothing while the first runs, and everything once it stopped."""
    leader, standby = make_relay(settings), make_relay(settings)
    await publish(engine, scratch, aggregate="a", seq=1)
    assert await leader.publish_batch() == 1
    await publish(engine, scratch, aggregate="a", seq=2)
    assert await standby.publish_batch() == 0
    await leader.close()
    assert await standby.publish_batch() == 1
    events = await stream_events(redis, events_stream(scratch.schema))
    assert [e.payload.seq for e in events] == [1, 2]


async def test_a_relay_whose_connection_was_cut_reconnects_and_publishes(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    """PostgreSQL ends the relay's own connection (a restart, an operator's
    pg_terminate_backend): the relay connects again, takes the lock again and goes on."""
    relay = make_relay(settings.model_copy(update={"relay_poll_interval_seconds": 0.05}))
    stream = events_stream(scratch.schema)
    async with running(relay.run()) as (task,):
        await publish(engine, scratch, aggregate="a", seq=1)
        await eventually(lambda: redis.xlen(stream), seconds=5, what="the first pass")
        async with engine.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": f"{scratch.schema}-relay"},
            )
        assert ended == 1
        await publish(engine, scratch, aggregate="a", seq=2)

        async def both() -> bool:
            return [e.payload.seq for e in await stream_events(redis, stream)] == [1, 2]

        await eventually(both, seconds=10, what="the event after the cut")
        assert not task.done()


async def test_a_relay_publishes_nothing_while_another_holds_the_lock(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    relay = make_relay(settings)
    await publish(engine, scratch, aggregate="a", seq=1)
    async with engine.begin() as other:  # another replica's relay, mid-pass
        assert await other.scalar(select(func.pg_try_advisory_xact_lock(relay_lock_key(scratch))))
        assert await relay.publish_batch() == 0
    assert await redis.xlen(events_stream(scratch.schema)) == 0
    assert await unpublished(engine, scratch) == 1
    assert await relay.publish_batch() == 1


async def test_an_idle_relay_is_woken_by_notify(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    # A poll interval far beyond the wait below: only LISTEN/NOTIFY can deliver in time.
    relay = make_relay(settings.model_copy(update={"relay_poll_interval_seconds": 600}))
    stream = events_stream(scratch.schema)
    async with running(relay.run()) as (task,):
        first = await publish(engine, scratch, aggregate="a", seq=1)
        await eventually(lambda: redis.xlen(stream), seconds=5, what="the first pass")
        await asyncio.sleep(0.3)  # let the relay finish its pass and go idle
        second = await publish(engine, scratch, aggregate="a", seq=2)

        async def published() -> bool:
            return [str(e.event_id) for e in await stream_events(redis, stream)] == [first, second]

        await eventually(published, seconds=5, what="the NOTIFY-driven publication")
        assert not task.done()


async def test_two_relays_publish_everything_in_order_per_aggregate(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    make_relay: MakeRelay,
) -> None:
    stream = events_stream(scratch.schema)
    small_batches = settings.model_copy(update={"relay_batch_size": 7})
    relays = [make_relay(small_batches) for _ in range(2)]
    aggregates, per_aggregate = [f"agg-{n}" for n in range(5)], 40

    async def writer(aggregate: str) -> list[str]:
        return [
            await publish(engine, scratch, aggregate=aggregate, seq=s) for s in range(per_aggregate)
        ]

    async with running(*(relay.run() for relay in relays)):
        written = await asyncio.gather(*(writer(a) for a in aggregates))
        total = len(aggregates) * per_aggregate

        async def all_published() -> bool:
            return await redis.xlen(stream) >= total and await unpublished(engine, scratch) == 0

        await eventually(all_published, what="every event on the stream")

    events = await stream_events(redis, stream)
    assert sorted(str(e.event_id) for e in events) == sorted(i for ids in written for i in ids)
    for aggregate in aggregates:
        seqs = [e.payload.seq for e in events if e.aggregate_id == aggregate]
        assert seqs == list(range(per_aggregate))


def start_redis_server(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A throwaway redis-server without persistence: it comes back empty after a stop."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


async def test_events_written_during_a_redis_outage_are_delivered_when_it_returns(
    engine: AsyncEngine,
    scratch: Scratch,
    settings: EventSettings,
    tmp_path: Path,
    make_relay: MakeRelay,
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server (Debian: redis-server) for a Redis it may stop")
    port = free_port()
    stream = events_stream(scratch.schema)
    redis = Redis(host="127.0.0.1", port=port, decode_responses=True, socket_connect_timeout=1)
    relay = make_relay(settings, to=redis)
    consumer = StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=scratch.inbox,
        group=f"group_{scratch.schema}",
        stream=stream,
        handlers=touched_handlers(scratch, Behaviour()),
        settings=settings,
    )

    async def handled() -> dict[str, int]:
        effects = scratch.effects
        async with engine.connect() as conn:
            query = select(effects.c.event_id, func.count()).group_by(effects.c.event_id)
            return {str(event_id): n for event_id, n in await conn.execute(query)}

    server = start_redis_server(port, tmp_path)
    try:
        await eventually(redis.ping, seconds=10, what="redis-server to start")
        async with running(relay.run(), consumer.run()) as tasks:
            before = await publish(engine, scratch, aggregate="a", seq=0)
            await eventually(handled, what="the first event")

            stop(server)
            # Redis is down: the writes still commit, the rows wait in the outbox.
            written = [await publish(engine, scratch, aggregate="a", seq=s) for s in range(1, 21)]
            await asyncio.sleep(0.5)  # a few relay and consumer passes against no server
            assert not any(task.done() for task in tasks)
            assert await unpublished(engine, scratch) == 20

            server = start_redis_server(port, tmp_path)

            async def all_handled() -> bool:
                return await handled() == dict.fromkeys([before, *written], 1)

            await eventually(all_handled, what="the backlog after Redis came back")
            assert await unpublished(engine, scratch) == 0
            # The restarted server has no persistence: only the backlog went to it.
            events = await stream_events(redis, stream)
    finally:
        stop(server)
        await redis.aclose()
    assert [str(e.event_id) for e in events] == written
