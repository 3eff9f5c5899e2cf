"""Queries for stock reservations: row locks in a fixed order and conditional updates."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import BigInteger, Integer, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.tables import Product, StockOrder, StockReservation

# Every stock change of the saga runs these: built once, with bound parameters (built per
# call, each is built and given a cache key again every time: docs/checkout.md,
# "Statements built once").
_order_id = bindparam("order_id", type_=BigInteger)
_CLAIM_ORDER = (
    insert(StockOrder)
    .values(order_id=_order_id, status="reserved")
    .on_conflict_do_nothing()
    .returning(StockOrder)
)
_LOCK_ORDER = select(StockOrder).where(StockOrder.order_id == _order_id).with_for_update()
_LOCK_STOCK = (
    select(Product.id, Product.stock_quantity)
    .where(Product.id.in_(bindparam("product_ids", expanding=True)), Product.deleted_at.is_(None))
    .order_by(Product.id)
    .with_for_update()
)
_product_id = bindparam("product_id", type_=BigInteger)
_quantity = bindparam("quantity", type_=Integer)
_TAKE = (
    update(Product)
    .where(Product.id == _product_id, Product.stock_quantity >= _quantity)
    .values(stock_quantity=Product.stock_quantity - _quantity)
    # No product is loaded into the session on the saga's path: nothing to synchronise.
    .execution_options(synchronize_session=False)
)
_GIVE_BACK = (
    update(Product)
    .where(Product.id == _product_id)
    .values(stock_quantity=Product.stock_quantity + _quantity)
    .execution_options(synchronize_session=False)
)
_RESERVATIONS = (
    select(StockReservation.product_id, StockReservation.quantity)
    .where(StockReservation.order_id == _order_id)
    .order_by(StockReservation.product_id)
)


async def claim_order(session: AsyncSession, order_id: int) -> StockOrder | None:
    """Insert the order's row (status pending decision); None if the catalog has seen it.

    The insert is the idempotency key: a second OrderPlaced for one order waits on it,
    then finds it.
    """
    return (await session.execute(_CLAIM_ORDER, {"order_id": order_id})).scalar_one_or_none()


async def lock_order(session: AsyncSession, order_id: int) -> StockOrder | None:
    return (await session.execute(_LOCK_ORDER, {"order_id": order_id})).scalar_one_or_none()


async def lock_stock(session: AsyncSession, product_ids: list[int]) -> dict[int, int]:
    """Lock the live products' rows in id order (so concurrent orders cannot deadlock);
    returns their stock by id."""
    rows = await session.execute(_LOCK_STOCK, {"product_ids": product_ids})
    return {row.id: row.stock_quantity for row in rows}


async def take(session: AsyncSession, product_id: int, quantity: int) -> bool:
    """Decrement stock only if enough is left; the database enforces it, not our read."""
    result = await session.execute(_TAKE, {"product_id": product_id, "quantity": quantity})
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def give_back(session: AsyncSession, product_id: int, quantity: int) -> None:
    await session.execute(_GIVE_BACK, {"product_id": product_id, "quantity": quantity})


async def add_reservations(session: AsyncSession, order_id: int, lines: Mapping[int, int]) -> None:
    session.add_all(
        StockReservation(order_id=order_id, product_id=product_id, quantity=quantity)
        for product_id, quantity in lines.items()
    )
    await session.flush()


async def reservations(session: AsyncSession, order_id: int) -> dict[int, int]:
    rows = await session.execute(_RESERVATIONS, {"order_id": order_id})
    return {row.product_id: row.quantity for row in rows}
