"""Queries on orders and their lines."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Row,
    Select,
    String,
    Table,
    bindparam,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import contains_eager, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from orders.db.tables import Order, OrderItem, UserReplica
from shared.db import bound_insert

EXPIRABLE = ("awaiting_payment", "payment_failed")
# The channel on which the status trigger (migration 0006) NOTIFYs an order's id when its
# status changes: the long polls' `shared.watch.RowWatch`.
STATUS_CHANNEL = "orders_status"


# The statements of every placement and saga reaction are built once, with bound
# parameters: built per call, each is built and given a cache key again every time
# (docs/checkout.md, "Statements built once").
_LOCK = (
    select(Order)
    .where(Order.id == bindparam("order_id", type_=BigInteger))
    .options(selectinload(Order.items))
    .with_for_update(of=Order)
    .execution_options(populate_existing=True)
)
_orders = cast(Table, Order.__table__)
_lines = cast(Table, OrderItem.__table__)
# The read of every long poll and order page: Core rows, not ORM objects (an order of
# one line cost 600 us of CPU read and rendered through the ORM, 360 us this way).
_READ = (
    select(
        _orders,
        _lines.c.id.label("line_id"),
        _lines.c.product_id,
        _lines.c.name,
        _lines.c.quantity,
        _lines.c.unit_price,
        _lines.c.line_total,
    )
    .outerjoin(_lines, _lines.c.order_id == _orders.c.id)
    .where(_orders.c.id == bindparam("order_id", type_=BigInteger))
    .order_by(_lines.c.id)
)


_GET_WITH_CUSTOMER = (
    select(Order, UserReplica)
    .outerjoin(UserReplica, UserReplica.user_id == Order.user_id)
    .where(Order.id == bindparam("order_id", type_=BigInteger))
    .options(joinedload(Order.items))
    .execution_options(populate_existing=True)
)


async def lock(session: AsyncSession, order_id: int) -> Order | None:
    """An order with its lines, its row locked (every status change and draft edit).

    The lines come in a second statement, after the lock: joined, they would come from
    the snapshot taken before the wait for the lock, and miss the lines a concurrent
    writer just committed."""
    return (await session.execute(_LOCK, {"order_id": order_id})).scalar_one_or_none()


async def read(conn: AsyncConnection, order_id: int) -> Sequence[Row[Any]]:
    """An order and its lines in one statement: a row per line (in line order), or one
    row whose line columns are None for an order without lines; none for no order."""
    return (await conn.execute(_READ, {"order_id": order_id})).all()


async def get_with_customer(
    session: AsyncSession, order_id: int
) -> tuple[Order, UserReplica | None] | None:
    """An order with its lines and its customer's replica (None if not known yet), in
    one statement: the confirmation mail of every paid order reads both."""
    row = (await session.execute(_GET_WITH_CUSTOMER, {"order_id": order_id})).unique().first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True, slots=True)
class Transition:
    """What a conditional status change found: the status the order had once locked,
    and the order after the change (None if the change did not apply)."""

    previous: str
    order: Order | None


_CHANGED_COLUMNS = (
    Order.id,
    Order.user_id,
    Order.status,
    Order.total_amount,
    Order.currency,
    Order.cancel_reason,
    Order.expires_at,
    Order.created_at,
    Order.updated_at,
)


@functools.cache
def _transition(sources: tuple[str, ...], target: str, *, due: bool) -> Select[Any]:
    """Lock the order, then move it to `target` if its status (once locked) is one of
    `sources` (and, if `due`, its payment window has passed): one statement. In READ
    COMMITTED the locking read waits for a concurrent writer and sees its commit, and
    the update is checked again against that version, as after a separate lock."""
    locked = (
        select(Order.id, Order.status.label("previous"))
        .where(Order.id == bindparam("order_id", type_=BigInteger))
        .with_for_update()
        .cte("locked")
    )
    change = (
        update(Order)
        .where(Order.id == locked.c.id, locked.c.previous.in_(sources))
        .values(
            status=target,
            cancel_reason=func.coalesce(bindparam("reason", type_=String), Order.cancel_reason),
        )
        .returning(*_CHANGED_COLUMNS)
    )
    if due:
        change = change.where(Order.expires_at <= bindparam("now", type_=DateTime(timezone=True)))
    changed = change.cte("changed")
    return select(locked.c.previous, *changed.c).select_from(locked.outerjoin(changed, true()))


async def transition(
    session: AsyncSession,
    order_id: int,
    *,
    sources: tuple[str, ...],
    target: str,
    reason: str | None = None,
    due_by: datetime | None = None,
) -> Transition | None:
    """Change an order's status in one statement if it is in one of `sources` (and its
    payment window passed by `due_by`); None for an unknown order. The saga's reactions
    read no lines (their events carry none). The returned order is not in the session."""
    params: dict[str, Any] = {"order_id": order_id, "reason": reason}
    if due_by is not None:
        params["now"] = due_by
    stmt = _transition(sources, target, due=due_by is not None)
    row = (await session.execute(stmt, params)).one_or_none()
    if row is None:
        return None
    if row.id is None:
        return Transition(previous=row.previous, order=None)
    order = Order(**{c.key: getattr(row, c.key) for c in _CHANGED_COLUMNS})
    return Transition(previous=row.previous, order=order)


_INSERT_ORDER = bound_insert(
    Order, "user_id", "status", "total_amount", "currency", "cancel_reason", "expires_at"
).returning(*_orders.c)
_LINE_COLUMNS = ("product_id", "name", "quantity", "unit_price", "line_total")
_INSERT_LINES = bound_insert(OrderItem, "order_id", *_LINE_COLUMNS).returning(
    *_lines.c, sort_by_parameter_order=True
)


async def insert_new(session: AsyncSession, order: Order) -> Order:
    """Insert `order` and its lines (built, not added to the session) in two statements;
    the order as stored (ids, timestamps), not in the session, its lines in order. Core,
    not the session's flush: the unit of work cost 0.4 ms more CPU per placement."""
    values = {
        "user_id": order.user_id,
        "status": order.status,
        "total_amount": order.total_amount,
        "currency": order.currency,
        "cancel_reason": order.cancel_reason,
        "expires_at": order.expires_at,
    }
    row = (await session.execute(_INSERT_ORDER, values)).one()
    lines = [
        {"order_id": row.id, **{name: getattr(line, name) for name in _LINE_COLUMNS}}
        for line in order.items
    ]
    stored = Order(**row._mapping)
    rows = (await session.execute(_INSERT_LINES, lines)).all() if lines else []
    set_committed_value(stored, "items", [OrderItem(**line._mapping) for line in rows])
    return stored


def list_stmt(*, owner_id: int | None, status: str | None = None) -> Select[Any]:
    """Orders as Core rows (their lines from `lines_of`: two statements a page); all of
    them for staff. Rows, not ORM objects: a page of 20 loaded by the ORM with its lines
    cost about 0.7 ms more CPU."""
    stmt = select(_orders)
    if owner_id is not None:
        stmt = stmt.where(_orders.c.user_id == owner_id)
    if status is not None:
        stmt = stmt.where(_orders.c.status == status)
    return stmt


# One statement whatever the page's size: the ids go as one array.
_LINES_OF = (
    select(_lines)
    .where(_lines.c.order_id == func.any(bindparam("order_ids", type_=ARRAY(BigInteger))))
    .order_by(_lines.c.order_id, _lines.c.id)
)


async def lines_of(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    """The lines of these orders, in line order, by order id (an order without lines has
    no entry)."""
    lines: dict[int, list[Row[Any]]] = {}
    if order_ids:
        for line in await session.execute(_LINES_OF, {"order_ids": list(order_ids)}):
            lines.setdefault(line.order_id, []).append(line)
    return lines


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


def customer_lock_name(user_id: int) -> str:
    return f"orders.place:{user_id}"


# The customer's placements queue on this lock (`lock_customer`); a checkout takes it
# with its cart's lock (`carts.lock_for_checkout`).
CUSTOMER_LOCK = func.pg_advisory_xact_lock(
    func.hashtextextended(bindparam("customer_lock", type_=String), 0)
)
_LOCK_CUSTOMER = select(CUSTOMER_LOCK)
# How many of the customer's orders wait for payment: run it after the customer's lock.
UNPAID_COUNT = select(func.count()).where(
    Order.user_id == bindparam("user_id", type_=BigInteger), Order.status.in_(UNPAID)
)


async def lock_customer(session: AsyncSession, user_id: int) -> None:
    """Serialize one customer's order placements until the transaction ends, so a count
    of their orders followed by a placement cannot race another placement."""
    await session.execute(_LOCK_CUSTOMER, {"customer_lock": customer_lock_name(user_id)})


async def count_unpaid(session: AsyncSession, user_id: int) -> int:
    return int((await session.execute(UNPAID_COUNT, {"user_id": user_id})).scalar_one())
