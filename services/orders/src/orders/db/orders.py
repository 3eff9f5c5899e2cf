"""Queries on orders and their lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from orders.db.tables import Order, OrderItem

EXPIRABLE = ("awaiting_payment", "payment_failed")


async def get(session: AsyncSession, order_id: int, *, for_update: bool = False) -> Order | None:
    """An order with its lines; `for_update` locks the order row (every status change).

    A plain read is one statement (the lines joined): it runs in every long poll, and a
    round trip costs more CPU than the join. A locking read takes the lines in a second
    statement, after the lock: joined, they would come from the snapshot taken before
    the wait for the lock, and miss the lines a concurrent writer just committed."""
    stmt = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.options(selectinload(Order.items)).with_for_update(of=Order)
    else:
        stmt = stmt.options(joinedload(Order.items))
    return (await session.execute(stmt)).unique().scalar_one_or_none()


async def lock(session: AsyncSession, order_id: int) -> Order | None:
    """An order locked for a status change, without its lines: the saga's reactions
    read none (their events carry no lines), so they cost a statement less."""
    stmt = (
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def list_stmt(*, owner_id: int | None, status: str | None = None) -> Select[Any]:
    """Orders with their lines (two statements a page); all of them for staff."""
    stmt = select(Order).options(selectinload(Order.items))
    if owner_id is not None:
        stmt = stmt.where(Order.user_id == owner_id)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    return stmt


def _item_stmt() -> Select[OrderItem]:
    return select(OrderItem).join(OrderItem.order).options(contains_eager(OrderItem.order))


async def get_item(session: AsyncSession, item_id: int) -> OrderItem | None:
    stmt = _item_stmt().where(OrderItem.id == item_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def items_stmt(*, owner_id: int | None, order_id: int | None = None) -> Select[Any]:
    stmt = _item_stmt()
    if owner_id is not None:
        stmt = stmt.where(Order.user_id == owner_id)
    if order_id is not None:
        stmt = stmt.where(OrderItem.order_id == order_id)
    return stmt


async def expired_ids(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[int]:
    """Orders still unpaid after their payment window, oldest deadline first (for a sweep)."""
    stmt = (
        select(Order.id)
        .where(Order.status.in_(EXPIRABLE), Order.expires_at <= now)
        .order_by(Order.expires_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


UNPAID = ("pending", "awaiting_payment", "payment_failed")


async def lock_customer(session: AsyncSession, user_id: int) -> None:
    """Serialize one customer's order placements until the transaction ends, so a count
    of their orders followed by a placement cannot race another placement."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"orders.place:{user_id}", 0)))
    )


async def count_unpaid(session: AsyncSession, user_id: int) -> int:
    stmt = select(func.count()).where(Order.user_id == user_id, Order.status.in_(UNPAID))
    return int((await session.execute(stmt)).scalar_one())
