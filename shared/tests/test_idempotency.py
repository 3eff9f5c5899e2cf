"""shared.idempotency on a real PostgreSQL: Stripe's semantics for one table of a scratch
schema (replay, 422 for another request, 409 in flight, keys per user, expiry, purge)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from shared import idempotency
from shared.db import service_metadata
from shared.dbadmin import admin_url
from shared.idempotency import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyRecordColumns,
    fingerprint,
)
from shared.testing import count_statements

SCHEMA = f"idempotency_test_{secrets.token_hex(4)}"
DAY = timedelta(days=1)


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)


class Record(IdempotencyRecordColumns, Base):
    __tablename__ = "idempotency_keys"


@pytest.fixture
async def engine(test_database: str) -> AsyncIterator[AsyncEngine]:
    url = make_url(admin_url()).set(drivername="postgresql+asyncpg", database=test_database)
    engine = create_async_engine(url, pool_size=4)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Counter:
    """A handler that counts its runs and answers with the run's number."""

    def __init__(self, status: int = 201) -> None:
        self.runs = 0
        self.status = status

    async def __call__(self) -> tuple[int, dict[str, Any]]:
        self.runs += 1
        return self.status, {"run": self.runs}


async def request(
    sessions: async_sessionmaker[AsyncSession],
    handle: Any,
    *,
    user_id: int = 1,
    key: str = "k",
    body: dict[str, Any] | None = None,
    wait_seconds: float = 0.0,
    ttl: timedelta = DAY,
) -> idempotency.Answer:
    """One request in its own transaction, committed as a request's is."""
    async with sessions.begin() as session:
        return await idempotency.run(
            session,
            Record,
            scope="test",
            user_id=user_id,
            key=key,
            request_hash=fingerprint(body or {"a": 1}),
            ttl=ttl,
            wait_seconds=wait_seconds,
            handle=handle,
        )


async def records(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Record)) or 0)


async def test_the_same_key_and_request_replays_the_stored_answer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle = Counter(status=202)
    first = await request(sessions, handle)
    again = await request(sessions, handle)
    assert (first.status, first.body, first.replayed) == (202, {"run": 1}, False)
    assert (again.status, again.body, again.replayed) == (202, {"run": 1}, True)
    assert handle.runs == 1


async def test_the_same_key_with_another_request_is_422(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle = Counter()
    await request(sessions, handle, body={"a": 1})
    with pytest.raises(IdempotencyKeyReused) as refused:
        await request(sessions, handle, body={"a": 2})
    assert refused.value.status == 422
    assert refused.value.extensions["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert handle.runs == 1


async def test_keys_are_scoped_per_user(sessions: async_sessionmaker[AsyncSession]) -> None:
    handle = Counter()
    alice = await request(sessions, handle, user_id=1, key="same")
    bob = await request(sessions, handle, user_id=2, key="same", body={"other": True})
    assert (alice.body, bob.body) == ({"run": 1}, {"run": 2})
    assert not bob.replayed


async def test_a_failed_request_stores_nothing(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    async def refuse() -> tuple[int, dict[str, Any]]:
        raise LookupError("refused")

    with pytest.raises(LookupError):
        await request(sessions, refuse)
    assert await records(engine) == 0
    assert not (await request(sessions, Counter())).replayed


async def test_a_request_in_flight_is_409_without_waiting(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handle = Counter()
    async with sessions.begin() as holder:
        assert await idempotency.try_lock(holder, "test", user_id=1, key="busy")
        with pytest.raises(IdempotencyKeyInUse) as refused:
            await request(sessions, handle, key="busy")
    assert (refused.value.status, refused.value.extensions["code"]) == (
        409,
        "idempotency_key_in_use",
    )
    assert handle.runs == 0
    assert not (await request(sessions, handle, key="busy")).replayed


async def test_a_waiting_retry_still_blocked_after_its_wait_is_409(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as holder:
        assert await idempotency.try_lock(holder, "test", user_id=1, key="slow")
        with pytest.raises(IdempotencyKeyInUse):
            await request(sessions, Counter(), key="slow", wait_seconds=0.05)


async def test_a_waiting_retry_gets_the_first_answer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The first request holds the key until it commits; a retry sent meanwhile waits for
    it and is answered from its record. The first request is released by the test only
    once the retry is waiting on the key's lock (seen in pg_locks), never by a timer."""
    release = asyncio.Event()
    handle = Counter()

    async def slow() -> tuple[int, dict[str, Any]]:
        await release.wait()
        return await handle()

    first = asyncio.create_task(request(sessions, slow, key="queued"))
    await _until_locked(sessions, "queued", granted=True)
    retry = asyncio.create_task(request(sessions, handle, key="queued", wait_seconds=30))
    await _until_locked(sessions, "queued", granted=False)
    release.set()
    assert (await first).replayed is False
    answer = await retry
    assert (answer.body, answer.replayed) == ({"run": 1}, True)
    assert handle.runs == 1


async def _key_locks(sessions: async_sessionmaker[AsyncSession], key: str, *, granted: bool) -> int:
    """Locks of this key in this database (a bigint advisory lock is classid:objid)."""
    lock = idempotency.lock_id("test", user_id=1, key=key) & 0xFFFFFFFFFFFFFFFF
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = :g"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid::bigint = :hi AND objid::bigint = :lo"
            ),
            {"g": granted, "hi": lock >> 32, "lo": lock & 0xFFFFFFFF},
        )
        return int(found or 0)


async def _until_locked(
    sessions: async_sessionmaker[AsyncSession], key: str, *, granted: bool
) -> None:
    """Poll pg_locks (PostgreSQL tells no one when a lock is taken or awaited)."""
    for _ in range(3000):
        if await _key_locks(sessions, key, granted=granted):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the key {key!r} was never locked (granted={granted})")


async def test_a_waiting_lock_leaves_the_transaction_with_its_own_lock_timeout(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The key is held when the request comes, so it waits under its own lock_timeout;
    the holder lets go once the wait shows in pg_locks."""
    async with sessions.begin() as holder:
        assert await idempotency.try_lock(holder, "test", user_id=1, key="timeout")
        async with sessions.begin() as session:
            before = await session.scalar(text("SHOW lock_timeout"))
            waiting = asyncio.create_task(
                idempotency.run(
                    session,
                    Record,
                    scope="test",
                    user_id=1,
                    key="timeout",
                    request_hash=fingerprint({}),
                    ttl=DAY,
                    wait_seconds=30,
                    handle=Counter(),
                )
            )
            await _until_locked(sessions, "timeout", granted=False)
            await holder.rollback()
            assert not (await waiting).replayed
            assert await session.scalar(text("SHOW lock_timeout")) == before


async def test_a_free_key_is_taken_in_one_statement(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """Taking a key nobody holds costs one round trip, whatever the wait allowed: the
    lock, the record lookup and the record's write are three statements in all."""
    with count_statements(engine) as counter:
        await request(sessions, Counter(), key="free", wait_seconds=5)
    assert counter.count == 3


async def test_an_expired_record_runs_the_request_again(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    handle = Counter()
    await request(sessions, handle, key="old")
    async with engine.begin() as conn:
        await conn.execute(update(Record).values(created_at=datetime.now(UTC) - 2 * DAY))
    again = await request(sessions, handle, key="old", body={"another": "body"})
    assert (again.body, again.replayed) == ({"run": 2}, False)
    assert (await request(sessions, handle, key="old", body={"another": "body"})).replayed
    assert await records(engine) == 1


async def test_purge_deletes_records_older_than_the_cutoff(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    for key in ("old", "new"):
        await request(sessions, Counter(), key=key)
    async with engine.begin() as conn:
        await conn.execute(
            update(Record).where(Record.key == "old").values(created_at=datetime.now(UTC) - 2 * DAY)
        )
    assert await idempotency.purge(engine, Record, before=datetime.now(UTC) - DAY) == 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(Record.key))).scalars().all() == ["new"]


def test_fingerprints_are_canonical_and_keyed_on_request() -> None:
    assert fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    keyed = fingerprint({"a": 1}, secret="s1")
    assert keyed != fingerprint({"a": 1})
    assert keyed != fingerprint({"a": 1}, secret="s2")
    assert len(keyed) == len(fingerprint({"a": 1})) == 64
