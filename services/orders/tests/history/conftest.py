"""Fixtures of the order-history tests: the store under contract (Postgres always,
Cassandra when CASSANDRA_CONTACT_POINTS is set), on the session's test database."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orders.history.settings import CassandraSettings
from orders.history.store import HistoryStore
from shared.dbadmin import service_url
from shared.testing import truncate_schema

CASSANDRA_SKIP = (
    "CASSANDRA_CONTACT_POINTS is not set: no Cassandra node to run the contract against "
    "(none can be installed on the development machines; compose and CI with a node set it)"
)


@pytest.fixture
async def history_engine(test_database: str) -> AsyncIterator[AsyncEngine]:
    """The orders role's engine: it owns schema order_history."""
    engine = create_async_engine(service_url("orders", database=test_database), pool_size=5)
    yield engine
    await engine.dispose()
    await truncate_schema(test_database, "order_history")


@pytest.fixture(params=["postgres", "cassandra"])
async def store(
    request: pytest.FixtureRequest, history_engine: AsyncEngine
) -> AsyncIterator[HistoryStore]:
    if request.param == "postgres":
        from orders.history.postgres_store import PostgresHistoryStore

        store: HistoryStore = PostgresHistoryStore(history_engine)
    else:
        if not os.environ.get("CASSANDRA_CONTACT_POINTS"):
            pytest.skip(CASSANDRA_SKIP)
        from orders.history.cassandra_store import CassandraHistoryStore

        # A keyspace of its own per test, dropped after it.
        settings = CassandraSettings(keyspace=f"history_test_{secrets.token_hex(4)}")
        store = CassandraHistoryStore(settings)
    await store.prepare()
    try:
        yield store
    finally:
        if request.param == "cassandra":
            await store.drop_keyspace()  # type: ignore[attr-defined]
        await store.close()
