"""Test helpers shared by every service's suite: a throwaway database, migrations,
per-test cleanup and SQL statement counting, the `settings`/`app` fixtures of a service,
polling with a bound, free ports. Real PostgreSQL and Redis, nothing mocked.

pytest is imported only by the fixture factory: scripts (orders.history.bench) use the
database helpers without it."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from alembic import command
from alembic.config import Config
from redis.asyncio import Redis
from sqlalchemy import Table, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.dbadmin import admin_url, bootstrap, drop_database, service_url
from shared.events.consumer import StreamConsumer
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.events.streams import entry_fields

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic_settings import BaseSettings

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
        # Transactions the statements ran in: each cost a BEGIN and a COMMIT (or ROLLBACK)
        # round trip more; a statement in autocommit is its own, at no extra round trip.
        self.transactions = 0

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def round_trips(self) -> int:
        return self.count + 2 * self.transactions


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    """Record every SQL statement the engine runs inside the block (for N+1 checks), and
    the transactions they ran in (asked of the driver: in autocommit it opens none)."""
    counter = StatementCounter()
    open_on: set[int] = set()  # the driver connections whose transaction was counted

    def record(*args: Any) -> None:
        counter.statements.append(args[2])

    def seen(conn: Any, *args: Any) -> None:
        driver = conn.connection.driver_connection
        if driver.is_in_transaction() and id(driver) not in open_on:
            open_on.add(id(driver))
            counter.transactions += 1

    def ended(conn: Any) -> None:
        open_on.discard(id(conn.connection.driver_connection))

    listeners = [
        ("before_cursor_execute", record),
        ("after_cursor_execute", seen),
        ("commit", ended),
        ("rollback", ended),
    ]
    for name, listener in listeners:
        event.listen(engine.sync_engine, name, listener)
    try:
        yield counter
    finally:
        for name, listener in listeners:
            event.remove(engine.sync_engine, name, listener)


async def waiting_on_a_lock(engine: AsyncEngine) -> bool:
    """Whether a session of this database waits for a lock now (a test's concurrent
    writer has reached the lock it should wait for)."""
    async with engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
        )
    return bool(waiting)


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
        settings=EventSettings(consumer_block_seconds=0.001),
        name="test",
    )
    try:
        await consumer.start()
        while await consumer.poll():
            pass
    finally:
        await redis.delete(stream)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def eventually(
    check: Callable[[], Any], *, what: str, seconds: float = 60, interval: float = 0.1
) -> Any:
    """Poll `check` until it returns something truthy (and return that), for at most
    `seconds`; then fail with what was awaited and the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what} ({result!r})")
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[Any]],
    *,
    what: str = "condition",
    seconds: float = 20,
    interval: float = 0.05,
) -> Any:
    """`eventually` for a coroutine check, sleeping without blocking the event loop."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what} ({result!r})")
        await asyncio.sleep(interval)


def find_tool(name: str) -> str | None:
    """An executable on PATH, in /usr/sbin, or of the newest PostgreSQL under /usr/lib."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    sbin = Path("/usr/sbin") / name
    return shutil.which(name) or (str(sbin) if sbin.is_file() else None)


def require_tool(name: str, package: str) -> str:
    """The path of an executable a test needs; without it the test skips, saying which
    Debian package brings it."""
    import pytest

    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


@dataclass(frozen=True)
class ServiceUnderTest:
    """How a service's tests build its settings and run its app (`service_fixtures`)."""

    name: str
    settings_class: type[BaseSettings]
    create_app: Callable[..., FastAPI]
    # Settings every test of the service starts from, on top of the test database/Redis.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # setting -> the fixture that provides it (the users service's signing key).
    from_fixtures: Mapping[str, str] = field(default_factory=dict)
    # The app verifies access tokens against the in-process users service's JWKS.
    verifies_tokens: bool = True


def service_fixtures(service: ServiceUnderTest) -> tuple[Any, Any]:
    """The `settings` and `app` fixtures of one service's tests, written once for all:

        settings, app = service_fixtures(ServiceUnderTest("catalog", CatalogSettings, create_app))

    `settings` is the service's settings on the test database and Redis (a test changes
    single values by overriding the `settings_overrides` fixture); `app` runs the real
    app's lifespan around the test, then empties its schema (and Redis database)."""
    import pytest

    @pytest.fixture(name="settings")
    def settings_fixture(
        test_database: str,
        redis_url: str,
        settings_overrides: dict[str, Any],
        request: pytest.FixtureRequest,
    ) -> BaseSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": service_url(service.name, database=test_database),
            "redis_url": redis_url,
            "log_json": False,
            **(
                {"jwks_url": "http://users/.well-known/jwks.json"}
                if service.verifies_tokens
                else {}
            ),
            **service.defaults,
            **{key: request.getfixturevalue(name) for key, name in service.from_fixtures.items()},
            **settings_overrides,
        }
        return service.settings_class(**values)

    async def running(app: FastAPI, test_database: str) -> AsyncIterator[FastAPI]:
        async with app.router.lifespan_context(app):
            yield app
            await app.state.redis.flushdb()
        await truncate_schema(test_database, service.name)

    if service.verifies_tokens:

        @pytest.fixture(name="app")
        async def app_fixture(
            settings: BaseSettings, test_database: str, users_jwks_client: Any
        ) -> AsyncIterator[FastAPI]:
            app = service.create_app(settings, jwks_client=users_jwks_client)
            async for running_app in running(app, test_database):
                yield running_app

        return settings_fixture, app_fixture

    @pytest.fixture(name="app")
    async def own_app_fixture(settings: BaseSettings, test_database: str) -> AsyncIterator[FastAPI]:
        async for running_app in running(service.create_app(settings), test_database):
            yield running_app

    return settings_fixture, own_app_fixture
