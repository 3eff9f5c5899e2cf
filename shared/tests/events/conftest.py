"""Fixtures of the event backbone tests: a scratch schema in the session's test database
and unique stream names on Redis database 15."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from events_support import Scratch, scratch_tables
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.dbadmin import admin_url
from shared.events.settings import EventSettings


@pytest.fixture
def database_url(test_database: str) -> str:
    url = make_url(admin_url()).set(drivername="postgresql+asyncpg", database=test_database)
    return url.render_as_string(hide_password=False)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def scratch(engine: AsyncEngine) -> AsyncIterator[Scratch]:
    """A schema of its own per test, created with `metadata.create_all`, dropped after."""
    scratch = scratch_tables(f"events_test_{secrets.token_hex(4)}")
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{scratch.schema}"'))
        await conn.run_sync(scratch.outbox.table.metadata.create_all)
    yield scratch
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{scratch.schema}" CASCADE'))


@pytest.fixture
async def redis(redis_url: str, scratch: Scratch) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    # Stream names carry the scratch schema, so they are unique to this test.
    keys = [key async for key in client.scan_iter(match=f"{scratch.schema}*")]
    keys += [key async for key in client.scan_iter(match=f"group_{scratch.schema}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def settings() -> EventSettings:
    """Fast retries so tests finish quickly; production defaults are in EventSettings."""
    return EventSettings(
        relay_poll_interval_seconds=0.2,
        consumer_batch_size=10,
        consumer_block_seconds=0.1,
        claim_idle_seconds=0.2,
        claim_interval_seconds=0.1,
        max_deliveries=3,
    )
