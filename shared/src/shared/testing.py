"""Test helpers shared by every service's suite: a throwaway database, migrations,
per-test cleanup and SQL statement counting. Real PostgreSQL and Redis, nothing mocked."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from redis.asyncio import Redis
from sqlalchemy import Table, event
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.dbadmin import admin_url, bootstrap, drop_database, service_url
from shared.events.consumer import StreamConsumer
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.events.streams import entry_fields

REPO_ROOT = Path(__file__).resolve().parents[3]


def new_database_name() -> str:
    return f"shop_test_{secrets.token_hex(4)}"


def create_database(name: str) -> None:
    """Bootstrap a fresh database and run every service's migrations into it (the
    services of the registry, deploy/services.toml, that have a database)."""
    from deploy import registry

    services = [s for s in registry.load() if s.database]
    asyncio.run(bootstrap(name, registry.databases(services)))
    for service in services:
        config = Config(str(REPO_ROOT / service.path / "alembic.ini"))
        config.attributes["database_url"] = service_url(service.name, database=name)
        command.upgrade(config, "head")


def destroy_database(name: str) -> None:
    asyncio.run(drop_database(name))


async def truncate_schema(database: str, schema: str) -> None:
    """Empty every table of a schema (all but Alembic's), restarting identities."""
    conn = await asyncpg.connect(admin_url(), database=database)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name"
            " FROM pg_tables WHERE schemaname = $1::text AND tablename <> 'alembic_version'",
            schema,
        )
        if tables:
            names = ", ".join(t["name"] for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    """Record every SQL statement the engine runs inside the block (for N+1 checks)."""
    counter = StatementCounter()

    def record(*args: Any) -> None:
        counter.statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


def envelope(
    event_type: str,
    payload: dict[str, Any],
    *,
    aggregate_id: str | int,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """An event as another service would publish it (services never import each other)."""
    producer = event_type.split(".", 1)[0]
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": (occurred_at or datetime.now(UTC)).isoformat(),
        "producer": producer,
        "correlation_id": None,
        "aggregate_id": str(aggregate_id),
        "payload": payload,
    }


async def deliver(
    events: list[dict[str, Any]],
    *,
    redis: Redis,
    engine: AsyncEngine,
    inbox: Table,
    group: str,
    handlers: EventHandlers,
) -> None:
    """Put events on a fresh stream and let a real consumer handle them all, once."""
    stream = f"test.{uuid.uuid4().hex}"
    for item in events:
        fields: dict[Any, Any] = entry_fields(
            event_id=item["event_id"], event_type=item["type"], envelope_json=json.dumps(item)
        )
        await redis.xadd(stream, fields)
    consumer = StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=inbox,
        group=group,
        stream=stream,
        handlers=handlers,
        settings=EventSettings(consumer_block_ms=1),
        name="test",
    )
    try:
        await consumer.start()
        while await consumer.poll():
            pass
    finally:
        await redis.delete(stream)
