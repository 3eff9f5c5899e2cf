"""`Idempotency-Key` for the writes that create orders and payments, as Stripe has it.

- A key belongs to one user: two users may send the same key and never meet.
- The first request with a key runs and its answer (status and JSON body) is stored in
  the same transaction as what it wrote. A refused request (any error) stores nothing,
  so the key can be retried once the cause is gone.
- The same key with the same request answers with the stored status and body and does
  nothing else; with another request (another fingerprint) it is refused: 422.
- While the first request with a key is still running, another one with that key waits
  up to `wait_seconds` for it to finish (then it is answered from the record); if it is
  still running after that, 409. With `wait_seconds=0` that is Stripe's immediate 409.
- A record is kept `ttl`: an older one is ignored (the key runs again) and purged by
  the service's worker (`purge`).

Each service keeps the records in a table of its own schema, mapped with
`IdempotencyRecordColumns`. A request is identified by its `fingerprint`: the canonical
JSON of what the caller chooses, never a card number or a CVC (see docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Row,
    Select,
    SmallInteger,
    String,
    Table,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, Insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.db import bound_insert, delete_older_than
from shared.errors import Conflict, Unprocessable

HEADER = "Idempotency-Key"
# Stripe keeps keys for 24 hours; so do we (every service's `idempotency_ttl_seconds`).
DEFAULT_TTL_SECONDS = 24 * 3600
# PostgreSQL's lock_not_available: a lock wait ran past `lock_timeout`.
_LOCK_NOT_AVAILABLE = "55P03"

Json = dict[str, Any]


class IdempotencyRecordColumns:
    """The columns of a service's idempotency table (a declarative mixin)."""

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The request's fingerprint: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[Json] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # Records are purged by age.
        name = getattr(cls, "__tablename__")  # noqa: B009 - set by the mapped subclass
        return (Index(f"ix_{name}_created", "created_at"),)


Records = type[IdempotencyRecordColumns]


class IdempotencyKeyInUse(Conflict):
    """The first request with this key is still running: send the same one again after
    Retry-After (a client that took the 409 as a refusal would retry with a new key)."""

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress; retry later.",
            headers={"Retry-After": "1"},
            code="idempotency_key_in_use",
        )


class IdempotencyKeyReused(Unprocessable):
    """The key already answered another request."""

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request body.",
            loc=("header", HEADER),
            code="idempotency_key_reused",
        )


@dataclass(frozen=True)
class Answer:
    """A response to an idempotent request: new, or replayed from its record."""

    status: int
    body: Json
    replayed: bool


def fingerprint(fields: Json, *, secret: str | None = None) -> str:
    """SHA-256 of the canonical JSON of what identifies a request; an HMAC keyed with
    `secret` when the fields hold personal data (a PayPal address, an IBAN), so that the
    stored fingerprint cannot be brute-forced back to them."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()
    if secret is None:
        return hashlib.sha256(canonical).hexdigest()
    return hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def lock_id(scope: str, *, user_id: int, key: str) -> int:
    """The advisory lock that one (user, key) holds while its first request runs."""
    digest = hashlib.sha256(f"{scope}-idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# The statements of every idempotent request are built once, with bound parameters: a
# statement built per call is built and given a cache key again each time, which costs
# more CPU than its round trip (docs/checkout.md, "Statements built once").
_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("lock_id", type_=BigInteger)))


@dataclass(frozen=True)
class _Statements:
    get: Select[Any]
    save: Insert


_STATEMENTS: dict[str, _Statements] = {}


def _statements(records: Records) -> _Statements:
    """The read and the upsert of a service's records table, built once per table."""
    name: str = getattr(records, "__table__").fullname  # noqa: B009 - set by the mapping
    found = _STATEMENTS.get(name)
    if found is None:
        found = _STATEMENTS[name] = _build_statements(records)
    return found


def _build_statements(records: Records) -> _Statements:
    # A Core read of the columns a replay needs: no ORM object per keyed request.
    table: Table = getattr(records, "__table__")  # noqa: B009 - set by the mapping
    c = table.c
    get = select(c.request_hash, c.response_status, c.response_body, c.created_at).where(
        c.user_id == bindparam("user_id"), c.key == bindparam("key")
    )
    insert_ = bound_insert(
        records, "user_id", "key", "request_hash", "response_status", "response_body"
    ).values(created_at=func.now())
    # An expired record of the same key is overwritten; the lock keeps anyone else out.
    replaced = ("request_hash", "response_status", "response_body", "created_at")
    save = insert_.on_conflict_do_update(
        index_elements=["user_id", "key"], set_={name: insert_.excluded[name] for name in replaced}
    )
    return _Statements(get=get, save=save)


async def try_lock(session: AsyncSession, scope: str, *, user_id: int, key: str) -> bool:
    """Hold the key for this transaction; False if another transaction holds it now."""
    locked = await session.scalar(_TRY_LOCK, {"lock_id": lock_id(scope, user_id=user_id, key=key)})
    return bool(locked)


async def _lock(
    session: AsyncSession, scope: str, *, user_id: int, key: str, wait_seconds: float
) -> None:
    # A free key (nearly every request) is taken in one round trip; only a key held by
    # a request still running pays for the bounded wait.
    if await try_lock(session, scope, user_id=user_id, key=key):
        return
    if wait_seconds <= 0:
        raise IdempotencyKeyInUse
    # lock_timeout bounds this one wait; it is set back before anything else runs.
    timeout = f"{max(1, round(wait_seconds * 1000))}ms"
    try:
        await session.execute(
            text("SELECT set_config('lock_timeout', :timeout, true), pg_advisory_xact_lock(:id)"),
            {"timeout": timeout, "id": lock_id(scope, user_id=user_id, key=key)},
        )
    except DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if sqlstate == _LOCK_NOT_AVAILABLE:
            raise IdempotencyKeyInUse from exc
        raise
    await session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))


async def run(
    session: AsyncSession,
    records: Records,
    *,
    scope: str,
    user_id: int,
    key: str,
    request_hash: str,
    ttl: timedelta,
    wait_seconds: float,
    handle: Callable[[], Awaitable[tuple[int, Json]]],
) -> Answer:
    """Answer the request with `key`: from its record, or by running `handle` (which
    returns the status and JSON body to answer with) and recording what it returned.

    Runs in the caller's transaction: the record commits, or rolls back, with what
    `handle` wrote. Raises `IdempotencyKeyInUse` (409) or `IdempotencyKeyReused` (422).
    """
    await _lock(session, scope, user_id=user_id, key=key, wait_seconds=wait_seconds)
    record = await _get(session, records, user_id=user_id, key=key)
    if record is not None and record.created_at >= datetime.now(UTC) - ttl:
        if not hmac.compare_digest(record.request_hash, request_hash):
            raise IdempotencyKeyReused
        return Answer(record.response_status, record.response_body, replayed=True)
    status, body = await handle()
    await _save(
        session, records, user_id=user_id, key=key, request_hash=request_hash, answer=(status, body)
    )
    return Answer(status, body, replayed=False)


async def _get(
    session: AsyncSession, records: Records, *, user_id: int, key: str
) -> Row[Any] | None:
    stmt = _statements(records).get
    found: Row[Any] | None = (
        await session.execute(stmt, {"user_id": user_id, "key": key})
    ).one_or_none()
    return found


async def _save(
    session: AsyncSession,
    records: Records,
    *,
    user_id: int,
    key: str,
    request_hash: str,
    answer: tuple[int, Json],
) -> None:
    params = {
        "user_id": user_id,
        "key": key,
        "request_hash": request_hash,
        "response_status": answer[0],
        "response_body": answer[1],
    }
    await session.execute(_statements(records).save, params)


async def purge(engine: AsyncEngine, records: Records, *, before: datetime) -> int:
    """Delete the records created before `before`; returns how many."""
    return await delete_older_than(engine, records.created_at, before)
