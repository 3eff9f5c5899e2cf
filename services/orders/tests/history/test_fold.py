"""The projector's fold on the embedded store: one statement per event in autocommit, and
no write while a rebuild empties the store."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from history_support import order_story, snapshot, typed
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history import archive, gate
from orders.history.postgres_store import PostgresHistoryStore
from orders.history.worker import build_consumers, build_handlers
from shared.db import autocommit
from shared.events.settings import EventSettings
from shared.events.streams import entry_fields
from shared.testing import count_statements, waiting_on_a_lock


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + "/12", decode_responses=True)
    yield client
    await client.aclose()


async def test_an_event_is_folded_in_one_round_trip(
    history_engine: AsyncEngine, redis: Redis
) -> None:
    """The archive row, the summary and the timeline entry in one statement, outside a
    transaction: no BEGIN, inbox row, rebuild gate statement or COMMIT around it."""
    prefix = f"history_fold_{secrets.token_hex(4)}"
    streams = [f"{prefix}.orders", f"{prefix}.payments"]
    store = PostgresHistoryStore(history_engine)
    quiet = EventSettings(claim_interval_seconds=3600.0, maintenance_interval_seconds=3600.0)
    consumer = build_consumers(
        redis=redis, engine=history_engine, store=store, settings=quiet, streams=streams
    )[0]
    await consumer.start()
    await consumer.poll()  # the first poll's reclaim and housekeeping, on an empty stream
    story = order_story(41, 2)[:2]  # placed, then awaiting payment
    for event in story:
        fields = entry_fields(
            event_id=event["event_id"],
            event_type=event["type"],
            envelope_json=typed(event).model_dump_json(),
        )
        await redis.xadd(streams[0], fields)  # type: ignore[arg-type]
    try:
        with count_statements(history_engine) as counted:
            assert await consumer.poll() == 2
    finally:
        await redis.delete(*streams)
    assert (counted.count, counted.round_trips) == (2, 2), counted.statements
    assert await archive.count(history_engine) == 2
    lists, timelines = await snapshot(store, [2], [41])
    assert [order.status for order in lists[2]] == ["awaiting_payment"]
    timeline = timelines[41]
    assert timeline is not None
    assert [entry.event_type for entry in timeline.entries] == [e["type"] for e in story]


async def test_a_fold_waits_while_a_rebuild_empties_the_store(history_engine: AsyncEngine) -> None:
    """A fold that finds the gate closed writes nothing, waits for the reset to end, then
    folds: no event is written into a store being emptied, and none is lost."""
    store = PostgresHistoryStore(history_engine)
    route = build_handlers(store).route("orders.OrderPlaced")
    assert route is not None
    assert route.handler is not None
    assert route.autocommit
    event = typed(order_story(42, 3)[0])
    async with history_engine.connect() as rebuild:
        await gate.lock_for_reset(rebuild)
        async with AsyncSession(autocommit(history_engine)) as session:
            fold = asyncio.create_task(route.handler(session, event))
            try:
                for _ in range(200):
                    if await waiting_on_a_lock(history_engine):
                        break
                    await asyncio.sleep(0.05)
                assert not fold.done()
                assert await waiting_on_a_lock(history_engine)
                assert await archive.count(history_engine) == 0
            finally:
                await gate.unlock(rebuild)
                await rebuild.commit()
            await asyncio.wait_for(fold, timeout=30)  # a guard against a hang
    assert await archive.count(history_engine) == 1
    lists, _ = await snapshot(store, [3], [42])
    assert [order.order_id for order in lists[3]] == [42]
