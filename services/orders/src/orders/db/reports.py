"""The maintained report tables: atomic increments, and the two report queries."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from orders.db.tables import CustomerStats, Order, ProductSales
from shared.db import bound_insert

# Every payment and refund runs these, built once (`bound_insert`).
_sale = bound_insert(ProductSales, "product_id", "name", "units", "revenue")
_COUNT_PRODUCT_SALE = _sale.on_conflict_do_update(
    index_elements=[ProductSales.product_id],
    set_={
        "name": _sale.excluded.name,
        "units": ProductSales.units + _sale.excluded.units,
        "revenue": ProductSales.revenue + _sale.excluded.revenue,
    },
)
_customer = bound_insert(CustomerStats, "user_id", "orders_count", "total_spent")
_COUNT_CUSTOMER_ORDER = _customer.on_conflict_do_update(
    index_elements=[CustomerStats.user_id],
    set_={
        "orders_count": CustomerStats.orders_count + _customer.excluded.orders_count,
        "total_spent": CustomerStats.total_spent + _customer.excluded.total_spent,
    },
)


async def count_sale(session: AsyncSession, order: Order, *, sign: int) -> None:
    """Add a paid order to the reports (sign=1), or take a refunded one out (sign=-1).

    Rows are touched in product id order, so concurrent updates never deadlock.
    """
    for item in sorted(order.items, key=lambda i: i.product_id):
        params = {
            "product_id": item.product_id,
            "name": item.name,
            "units": sign * item.quantity,
            "revenue": sign * item.line_total,
        }
        await session.execute(_COUNT_PRODUCT_SALE, params)
    params = {
        "user_id": order.user_id,
        "orders_count": sign,
        "total_spent": sign * order.total_amount,
    }
    await session.execute(_COUNT_CUSTOMER_ORDER, params)


def bestsellers(limit: int) -> Select[ProductSales]:
    return (
        select(ProductSales)
        .where(ProductSales.units > 0)
        .order_by(ProductSales.units.desc(), ProductSales.product_id)
        .limit(limit)
    )


def customer_stats() -> Select[CustomerStats]:
    return select(CustomerStats).where(CustomerStats.orders_count > 0)
