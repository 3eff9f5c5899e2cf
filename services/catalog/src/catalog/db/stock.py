"""Queries for stock reservations: row locks in a fixed order and conditional updates."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.tables import Product, StockOrder, StockReservation


async def claim_order(session: AsyncSession, order_id: int) -> StockOrder | None:
    """Insert the order's row (status pending decision); None if the catalog has seen it.

    The insert is the idempotency key: a second OrderPlaced for one order waits on it,
    then finds it.
    """
    stmt = (
        insert(StockOrder)
        .values(order_id=order_id, status="reserved")
        .on_conflict_do_nothing()
        .returning(StockOrder)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_order(session: AsyncSession, order_id: int) -> StockOrder | None:
    stmt = select(StockOrder).where(StockOrder.order_id == order_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_stock(session: AsyncSession, product_ids: list[int]) -> dict[int, int]:
    """Lock the live products' rows in id order (so concurrent orders cannot deadlock);
    returns their stock by id."""
    stmt = (
        select(Product.id, Product.stock_quantity)
        .where(Product.id.in_(product_ids), Product.deleted_at.is_(None))
        .order_by(Product.id)
        .with_for_update()
    )
    return {row.id: row.stock_quantity for row in await session.execute(stmt)}


async def take(session: AsyncSession, product_id: int, quantity: int) -> bool:
    """Decrement stock only if enough is left; the database enforces it, not our read."""
    result = await session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock_quantity >= quantity)
        .values(stock_quantity=Product.stock_quantity - quantity)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def give_back(session: AsyncSession, product_id: int, quantity: int) -> None:
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(stock_quantity=Product.stock_quantity + quantity)
    )


async def add_reservations(session: AsyncSession, order_id: int, lines: Mapping[int, int]) -> None:
    session.add_all(
        StockReservation(order_id=order_id, product_id=product_id, quantity=quantity)
        for product_id, quantity in lines.items()
    )
    await session.flush()


async def reservations(session: AsyncSession, order_id: int) -> dict[int, int]:
    stmt = (
        select(StockReservation.product_id, StockReservation.quantity)
        .where(StockReservation.order_id == order_id)
        .order_by(StockReservation.product_id)
    )
    return {row.product_id: row.quantity for row in await session.execute(stmt)}
