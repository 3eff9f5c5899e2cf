"""Queries for stock reservations: row locks in a fixed order and conditional updates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import BigInteger, Integer, String, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.tables import Product, StockOrder, StockReservation
from shared.db import bound_insert

# Every stock change of the saga runs these: built once, with bound parameters (built per
# call, each is built and given a cache key again every time: docs/checkout.md,
# "Statements built once"), and on the tables, not the mapped classes: nothing on this
# path loads an object, and the ORM's handling of a statement cost 150-180 us of CPU more
# than the same statement on its table (docs/checkout.md, "Core on the stock path").
_orders = cast(Table, StockOrder.__table__)
_products = cast(Table, Product.__table__)
_reservations = cast(Table, StockReservation.__table__)
_order_id = bindparam("order_id", type_=BigInteger)
# An UPDATE's parameters may not take its table's column names (SQLAlchemy keeps those for
# the SET clause).
_row_order_id = bindparam("row_order_id", type_=BigInteger)
_new_status = bindparam("new_status", type_=String)
_new_reason = bindparam("new_reason", type_=String)
_CLAIM_ORDER = (
    bound_insert(StockOrder, "order_id", "status", "reason")
    .on_conflict_do_nothing()
    .returning(_orders.c.order_id)
)
_LOCK_ORDER = select(_orders.c.status).where(_orders.c.order_id == _order_id).with_for_update()
_SET_STATUS = (
    update(_orders)
    .where(_orders.c.order_id == _row_order_id)
    .values(status=_new_status, reason=_new_reason)
)
_COMMIT = (
    update(_orders)
    .where(_orders.c.order_id == _row_order_id, _orders.c.status == "reserved")
    .values(status="committed")
)
_LOCK_STOCK = (
    select(_products.c.id, _products.c.stock_quantity)
    .where(
        _products.c.id.in_(bindparam("product_ids", expanding=True)),
        _products.c.deleted_at.is_(None),
    )
    .order_by(_products.c.id)
    .with_for_update()
)
_product_id = bindparam("product_id", type_=BigInteger)
_quantity = bindparam("quantity", type_=Integer)
# Every line's stock taken (only where enough is left: the database enforces it, not our
# read) and its reservation written, in one statement whatever the number of lines.
_wanted = select(
    func.unnest(bindparam("product_ids", type_=ARRAY(BigInteger))).label("product_id"),
    func.unnest(bindparam("quantities", type_=ARRAY(Integer))).label("quantity"),
).cte("wanted")
_taken = (
    update(_products)
    .where(
        _products.c.id == _wanted.c.product_id,
        _products.c.stock_quantity >= _wanted.c.quantity,
    )
    .values(stock_quantity=_products.c.stock_quantity - _wanted.c.quantity)
    .returning(_products.c.id, _wanted.c.quantity)
    .cte("taken")
)
_TAKE_AND_RESERVE = (
    insert(_reservations)
    .from_select(
        ["order_id", "product_id", "quantity"],
        select(_order_id, _taken.c.id, _taken.c.quantity),
    )
    .returning(_reservations.c.product_id)
)
_GIVE_BACK = (
    update(_products)
    .where(_products.c.id == _product_id)
    .values(stock_quantity=_products.c.stock_quantity + _quantity)
)
_RESERVATIONS = (
    select(_reservations.c.product_id, _reservations.c.quantity)
    .where(_reservations.c.order_id == _order_id)
    .order_by(_reservations.c.product_id)
)


async def claim_order(
    session: AsyncSession, order_id: int, *, status: str = "reserved", reason: str | None = None
) -> bool:
    """Insert the order's row with this status; False if the catalog has seen the order.

    The insert is the idempotency key: a second OrderPlaced for one order waits on it,
    then finds it.
    """
    params = {"order_id": order_id, "status": status, "reason": reason}
    return (await session.execute(_CLAIM_ORDER, params)).first() is not None


async def lock_order(session: AsyncSession, order_id: int) -> str | None:
    """Lock the order's row; its status, or None if the catalog has not seen the order."""
    return (await session.execute(_LOCK_ORDER, {"order_id": order_id})).scalar_one_or_none()


async def set_status(
    session: AsyncSession, order_id: int, status: str, reason: str | None = None
) -> None:
    params = {"row_order_id": order_id, "new_status": status, "new_reason": reason}
    await session.execute(_SET_STATUS, params)


async def commit_order(session: AsyncSession, order_id: int) -> None:
    """A reserved order's units are sold for good (one statement; its lock is the row's)."""
    await session.execute(_COMMIT, {"row_order_id": order_id})


async def lock_stock(session: AsyncSession, product_ids: list[int]) -> dict[int, int]:
    """Lock the live products' rows in id order (so concurrent orders cannot deadlock);
    returns their stock by id."""
    rows = await session.execute(_LOCK_STOCK, {"product_ids": product_ids})
    return {row.id: row.stock_quantity for row in rows}


async def take_and_reserve(session: AsyncSession, order_id: int, lines: Mapping[int, int]) -> bool:
    """Take each line's quantity from its product's stock and hold it for the order, in
    one statement; False (and the caller rolls back) if any product had too little."""
    params = {
        "order_id": order_id,
        "product_ids": list(lines),
        "quantities": list(lines.values()),
    }
    held = (await session.execute(_TAKE_AND_RESERVE, params)).all()
    return len(held) == len(lines)


async def give_back(session: AsyncSession, product_id: int, quantity: int) -> None:
    await session.execute(_GIVE_BACK, {"product_id": product_id, "quantity": quantity})


async def reservations(session: AsyncSession, order_id: int) -> dict[int, int]:
    rows = await session.execute(_RESERVATIONS, {"order_id": order_id})
    return {row.product_id: row.quantity for row in rows}
