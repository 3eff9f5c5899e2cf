"""Idempotency keys of payment requests."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from payments.db.tables import IdempotencyRecord
from shared.db import delete_older_than


def _lock_id(user_id: int, key: str) -> int:
    digest = hashlib.sha256(f"payments-idempotency:{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def try_lock(session: AsyncSession, *, user_id: int, key: str) -> bool:
    """Hold the key for this transaction; False if another request holds it now."""
    locked = await session.scalar(select(func.pg_try_advisory_xact_lock(_lock_id(user_id, key))))
    return bool(locked)


async def get(session: AsyncSession, *, user_id: int, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def forget(session: AsyncSession, record: IdempotencyRecord) -> None:
    await session.delete(record)
    await session.flush()


async def save(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    request_hash: str,
    status: int,
    body: dict[str, Any],
) -> None:
    session.add(
        IdempotencyRecord(
            user_id=user_id,
            key=key,
            request_hash=request_hash,
            response_status=status,
            response_body=body,
        )
    )
    await session.flush()


async def purge(engine: AsyncEngine, *, before: datetime) -> int:
    """Delete keys created before `before`; returns how many."""
    return await delete_older_than(engine, IdempotencyRecord.created_at, before)
