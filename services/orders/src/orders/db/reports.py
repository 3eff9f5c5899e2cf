"""The maintained report tables: atomic increments, and the two report queries."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orders.db.tables import CustomerStats, Order, ProductSales


async def count_sale(session: AsyncSession, order: Order, *, sign: int) -> None:
    """Add a paid order to the reports (sign=1), or take a refunded one out (sign=-1).

    Rows are touched in product id order, so concurrent updates never deadlock.
    """
    for item in sorted(order.items, key=lambda i: i.product_id):
        values = insert(ProductSales).values(
            product_id=item.product_id,
            name=item.name,
            units=sign * item.quantity,
            revenue=sign * item.line_total,
        )
        await session.execute(
            values.on_conflict_do_update(
                index_elements=[ProductSales.product_id],
                set_={
                    "name": values.excluded.name,
                    "units": ProductSales.units + values.excluded.units,
                    "revenue": ProductSales.revenue + values.excluded.revenue,
                },
            )
        )
    values = insert(CustomerStats).values(
        user_id=order.user_id, orders_count=sign, total_spent=sign * order.total_amount
    )
    await session.execute(
        values.on_conflict_do_update(
            index_elements=[CustomerStats.user_id],
            set_={
                "orders_count": CustomerStats.orders_count + values.excluded.orders_count,
                "total_spent": CustomerStats.total_spent + values.excluded.total_spent,
            },
        )
    )


def bestsellers(limit: int) -> Select[ProductSales]:
    return (
        select(ProductSales)
        .where(ProductSales.units > 0)
        .order_by(ProductSales.units.desc(), ProductSales.product_id)
        .limit(limit)
    )


def customer_stats() -> Select[CustomerStats]:
    return select(CustomerStats).where(CustomerStats.orders_count > 0)
