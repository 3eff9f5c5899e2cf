"""Queries of payments."""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import BigInteger, Select, Table, Update, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db.tables import ACTIVE_PREDICATE, ACTIVE_STATUSES, Payment

# Every payment request and charge runs these: built once, with bound parameters (built
# per call, each is built and given a cache key again every time: docs/checkout.md,
# "Statements built once").
PENDING_COLUMNS = (
    "order_id",
    "user_id",
    "amount",
    "currency",
    "method",
    "source_token",
    "card_brand",
    "card_last4",
    "card_exp_month",
    "card_exp_year",
)
# On the table, not the mapped class: the ORM runs an insert with parameters through its
# bulk path, which builds the statement again at each execution (a payment request cost
# 0.4-0.5 ms more CPU that way). The row comes back as a detached Payment.
_INSERT_PENDING = (
    insert(cast(Table, Payment.__table__))
    .values({name: bindparam(name) for name in PENDING_COLUMNS})
    .values(status="pending")
    .on_conflict_do_nothing(
        index_elements=[Payment.order_id],
        # Literal, as in the index: PostgreSQL cannot match a predicate with parameters.
        index_where=text(ACTIVE_PREDICATE),
    )
    .returning(*cast(Table, Payment.__table__).c)
)
_active = select(Payment).where(
    Payment.order_id == bindparam("order_id", type_=BigInteger),
    Payment.status.in_(ACTIVE_STATUSES),
)
# The processor's locking reads and writes are Core: a payment comes back detached and
# its changes are written by `save` (the unit of work's flush of a change cost 0.25-0.34
# ms more CPU, twice per charge).
_payments = cast(Table, Payment.__table__)
_LOCK_ACTIVE = (
    select(_payments)
    .where(
        _payments.c.order_id == bindparam("order_id", type_=BigInteger),
        _payments.c.status.in_(ACTIVE_STATUSES),
    )
    .with_for_update()
)
_LOCK = (
    select(_payments)
    .where(_payments.c.id == bindparam("payment_id", type_=BigInteger))
    .with_for_update()
)


async def insert_pending(session: AsyncSession, **values: Any) -> Payment | None:
    """Insert a pending payment (every one of `PENDING_COLUMNS`); None if the order
    already has a pending or succeeded one.

    A concurrent insert for the same order makes this wait on the partial unique index
    until that transaction ends, then yields to it if it committed.
    """
    row = (await session.execute(_INSERT_PENDING, values)).one_or_none()
    return None if row is None else Payment(**row._mapping)


async def active_for_order(session: AsyncSession, order_id: int) -> Payment | None:
    return (await session.execute(_active, {"order_id": order_id})).scalar_one_or_none()


async def lock_active_for_order(session: AsyncSession, order_id: int) -> Payment | None:
    """Lock the order's pending or succeeded payment (waiting for one being processed);
    detached, as `lock`'s."""
    row = (await session.execute(_LOCK_ACTIVE, {"order_id": order_id})).one_or_none()
    return None if row is None else Payment(**row._mapping)


async def lock(session: AsyncSession, payment_id: int) -> Payment | None:
    """Lock a payment's row; the payment comes detached, its changes written by `save`."""
    row = (await session.execute(_LOCK, {"payment_id": payment_id})).one_or_none()
    return None if row is None else Payment(**row._mapping)


async def save(session: AsyncSession, payment: Payment, *columns: str) -> None:
    """Write `columns` of a payment this transaction locked (`updated_at` follows)."""
    params = {name: getattr(payment, name) for name in columns}
    await session.execute(_update(columns), {**params, "payment_id": payment.id})


@functools.cache
def _update(columns: tuple[str, ...]) -> Update:
    """The UPDATE of these columns, built once per set (the processor uses four)."""
    return (
        update(_payments)
        .where(_payments.c.id == bindparam("payment_id", type_=BigInteger))
        .values({name: bindparam(name) for name in columns})
    )


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
