"""Idempotency keys of order creation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.db.tables import IdempotencyKey
from shared.db import delete_older_than


async def claim(session: AsyncSession, *, user_id: int, key: str, request_hash: str) -> bool:
    """Insert the key; False if it exists. A concurrent holder makes this wait until that
    transaction ends: then the key is ours (it rolled back) or theirs (it committed)."""
    stmt = (
        insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=[IdempotencyKey.user_id, IdempotencyKey.key])
        .returning(IdempotencyKey.key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get(session: AsyncSession, *, user_id: int, key: str) -> IdempotencyKey | None:
    stmt = (
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_order(session: AsyncSession, *, user_id: int, key: str, order_id: int) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(order_id=order_id)
    )


async def purge(engine: AsyncEngine, *, before: datetime) -> int:
    """Delete keys created before `before`; returns how many."""
    return await delete_older_than(engine, IdempotencyKey.created_at, before)
