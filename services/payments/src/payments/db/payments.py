"""Queries of payments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db.tables import ACTIVE_PREDICATE, ACTIVE_STATUSES, Payment


async def insert_pending(session: AsyncSession, **values: Any) -> Payment | None:
    """Insert a pending payment; None if the order already has a pending or succeeded one.

    A concurrent insert for the same order makes this wait on the partial unique index
    until that transaction ends, then yields to it if it committed.
    """
    stmt = (
        insert(Payment)
        .values(status="pending", **values)
        .on_conflict_do_nothing(
            index_elements=[Payment.order_id],
            # Literal, as in the index: PostgreSQL cannot match a predicate with parameters.
            index_where=text(ACTIVE_PREDICATE),
        )
        .returning(Payment)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def active_for_order(session: AsyncSession, order_id: int) -> Payment | None:
    stmt = select(Payment).where(Payment.order_id == order_id, Payment.status.in_(ACTIVE_STATUSES))
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_active_for_order(session: AsyncSession, order_id: int) -> Payment | None:
    """Lock the order's pending or succeeded payment (waiting for one being processed)."""
    stmt = (
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status.in_(ACTIVE_STATUSES))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock(session: AsyncSession, payment_id: int) -> Payment | None:
    stmt = (
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, payment_id: int) -> Payment | None:
    return await session.get(Payment, payment_id)


def list_stmt(*, user_id: int | None, order_id: int | None) -> Select[Payment]:
    """Payments of one user (None: everyone's), optionally of one order."""
    stmt = select(Payment)
    if user_id is not None:
        stmt = stmt.where(Payment.user_id == user_id)
    if order_id is not None:
        stmt = stmt.where(Payment.order_id == order_id)
    return stmt
