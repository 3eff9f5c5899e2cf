"""The projector as a real process on real Redis Streams: SIGKILLed mid-stream and
restarted, rebuilt while events flow, and checked against the orders table."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from history_support import T0, apply, order_story, snapshot
from redis.asyncio import Redis
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.db.tables import Order
from orders.history import archive
from orders.history.check import check
from orders.history.metrics import measure_lag
from orders.history.postgres_store import PostgresHistoryStore
from orders.history.rebuild import rebuild
from shared.dbadmin import service_url
from shared.events.streams import entry_fields
from shared.testing import REPO_ROOT, truncate_schema

USERS = (2, 3, 4)
ORDERS = range(1, 61)


def events_of(order_ids: range | list[int]) -> list[dict[str, Any]]:
    outcomes = ("completed", "cancelled", "refunded")
    events: list[dict[str, Any]] = []
    for order_id in order_ids:
        start = T0 + timedelta(minutes=order_id)
        events += order_story(
            order_id, USERS[order_id % 3], start=start, outcome=outcomes[order_id % 3]
        )
    return events


@pytest.fixture
def history_redis_url(redis_url: str) -> str:
    """A Redis database of these tests' own: other suites FLUSHDB theirs after each test,
    which would delete the streams under a running projector when suites run side by side."""
    return os.environ.get("HISTORY_TEST_REDIS_URL", redis_url.rsplit("/", 1)[0] + "/12")


@pytest.fixture
async def redis(history_redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(history_redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def streams(redis: Redis) -> AsyncIterator[dict[str, str]]:
    """Stream names of this test alone: producer -> stream."""
    prefix = f"history_test_{secrets.token_hex(4)}"
    names = {"orders": f"{prefix}.orders", "payments": f"{prefix}.payments"}
    yield names
    await redis.delete(*names.values(), "history.dead-letter")


async def publish(redis: Redis, streams: dict[str, str], events: list[dict[str, Any]]) -> None:
    for event in events:
        fields = entry_fields(
            event_id=event["event_id"], event_type=event["type"], envelope_json=json.dumps(event)
        )
        await redis.xadd(streams[event["producer"]], fields)  # type: ignore[arg-type]


@pytest.fixture
def start_worker(
    test_database: str, history_redis_url: str, streams: dict[str, str]
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSANDRA_")}
    env.update(
        ORDERS_DATABASE_URL=service_url("orders", database=test_database),
        ORDERS_REDIS_URL=history_redis_url,
        ORDERS_ENVIRONMENT="test",
        ORDERS_LOG_JSON="false",
        ORDERS_LOG_LEVEL="WARNING",
        # A stable name: the restarted worker finishes what the killed one left pending.
        ORDERS_REPLICA_NAME="history-test",
        ORDERS_HISTORY_METRICS_PORT="0",
        ORDERS_EVENTS__CONSUMER_BATCH_SIZE="5",
        ORDERS_EVENTS__CONSUMER_BLOCK_SECONDS="0.1",
    )

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orders.history.worker",
                "--orders-stream",
                streams["orders"],
                "--payments-stream",
                streams["payments"],
            ],
            cwd=REPO_ROOT,
            env=env,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def archived_at_least(engine: AsyncEngine, count: int, *, within_s: float = 120) -> int:
    """Poll the archive (bounded) until it holds `count` events; returns how many it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while (held := await archive.count(engine)) < count:
        if loop.time() > deadline:
            pytest.fail(f"the projector archived {held} of {count} events in {within_s}s")
        await asyncio.sleep(0.05)
    return held


async def test_killed_projector_restarts_to_the_same_projection_as_a_rebuild(
    history_engine: AsyncEngine,
    redis: Redis,
    streams: dict[str, str],
    start_worker: Callable[[], subprocess.Popen[bytes]],
) -> None:
    first_half, second_half = events_of(list(ORDERS)[:30]), events_of(list(ORDERS)[30:])
    worker = start_worker()
    await publish(redis, streams, first_half)
    await archived_at_least(history_engine, 10)
    worker.send_signal(signal.SIGKILL)  # mid-stream: no clean shutdown, batches in flight
    worker.wait()
    await publish(redis, streams, second_half)  # while it is down

    start_worker()
    total = len(first_half) + len(second_half)
    assert await archived_at_least(history_engine, total) == total

    # Everything applied: no lag on either stream.
    producers = {streams["orders"]: "orders", streams["payments"]: "payments"}
    assert await measure_lag(redis, history_engine, producers) == dict.fromkeys(producers, 0.0)

    store = PostgresHistoryStore(history_engine)
    projected = await snapshot(store, USERS, list(ORDERS))
    assert sum(len(orders) for orders in projected[0].values()) == len(ORDERS)
    assert await rebuild(history_engine, store) == total
    assert await snapshot(store, USERS, list(ORDERS)) == projected


async def test_a_rebuild_while_events_flow_ends_consistent(
    history_engine: AsyncEngine,
    redis: Redis,
    streams: dict[str, str],
    start_worker: Callable[[], subprocess.Popen[bytes]],
) -> None:
    first_half, second_half = events_of(list(ORDERS)[:30]), events_of(list(ORDERS)[30:])
    start_worker()
    await publish(redis, streams, first_half)
    await archived_at_least(history_engine, len(first_half))

    store = PostgresHistoryStore(history_engine)
    await asyncio.gather(
        rebuild(history_engine, store, batch_size=20), publish(redis, streams, second_half)
    )
    await archived_at_least(history_engine, len(first_half) + len(second_half))
    during = await snapshot(store, USERS, list(ORDERS))

    # The reference: every event folded into an empty store.
    await store.reset()
    await apply(store, history_engine, first_half + second_half)
    assert during == await snapshot(store, USERS, list(ORDERS))


async def test_check_reports_drift_from_the_orders_table(
    test_database: str, history_engine: AsyncEngine
) -> None:
    store = PostgresHistoryStore(history_engine)
    await apply(store, history_engine, events_of([1, 2, 3, 4]))  # 1 completed... per outcomes
    rows = [
        {"id": 1, "user_id": 3, "status": "cancelled", "total_amount": Decimal("11.50")},  # ok
        {"id": 2, "user_id": 4, "status": "paid", "total_amount": Decimal("12.50")},  # status
        {"id": 3, "user_id": 2, "status": "completed", "total_amount": Decimal("99.00")},  # total
        {"id": 5, "user_id": 2, "status": "pending", "total_amount": Decimal("1.00")},  # missing
        {"id": 6, "user_id": 2, "status": "draft", "total_amount": Decimal("1.00")},  # no events
    ]
    try:
        async with history_engine.begin() as conn:
            await conn.execute(insert(Order.__table__), [{**r, "currency": "EUR"} for r in rows])
        drifts = await check(history_engine, store, settle_s=0)
    finally:
        await truncate_schema(test_database, "orders")
    found = sorted((d.order_id, d.problem) for d in drifts)
    assert found == [(2, "status"), (3, "total"), (4, "unknown"), (5, "missing")]
