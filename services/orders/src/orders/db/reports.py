"""The maintained report tables: atomic increments, and the two report queries."""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Integer, Select, Table, bindparam, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from orders.db.tables import CustomerStats, Order, OrderItem, ProductSales

# Core on the tables throughout: an ORM entity anywhere in the statement would send it
# down the ORM's bulk insert path, which takes no INSERT ... SELECT.
_items = cast(Table, OrderItem.__table__)
_orders = cast(Table, Order.__table__)
_product_sales = cast(Table, ProductSales.__table__)
_customer_stats = cast(Table, CustomerStats.__table__)
_ORDER_ID = bindparam("order_id", type_=BigInteger)
_SIGN = bindparam("sign", type_=Integer)


def _count_sale_statement() -> Insert:
    """Both report tables from the order's own rows in one statement: each line into its
    product's totals (in product id order, so concurrent counts never deadlock), the
    order's total into its customer's. Built once: every payment and refund runs it."""
    items, orders = _items.c, _orders.c
    lines = (
        select(items.product_id, items.name, _SIGN * items.quantity, _SIGN * items.line_total)
        .where(items.order_id == _ORDER_ID)
        .order_by(items.product_id)
    )
    products = _product_sales.c
    sale = insert(_product_sales).from_select(["product_id", "name", "units", "revenue"], lines)
    sales = sale.on_conflict_do_update(
        index_elements=[products.product_id],
        set_={
            "name": sale.excluded.name,
            "units": products.units + sale.excluded.units,
            "revenue": products.revenue + sale.excluded.revenue,
        },
    ).cte("sales")
    order = select(orders.user_id, _SIGN, _SIGN * orders.total_amount).where(orders.id == _ORDER_ID)
    customers = _customer_stats.c
    customer = insert(_customer_stats).from_select(
        ["user_id", "orders_count", "total_spent"], order
    )
    # PostgreSQL runs a data-modifying WITH to completion whether or not it is read.
    return customer.on_conflict_do_update(
        index_elements=[customers.user_id],
        set_={
            "orders_count": customers.orders_count + customer.excluded.orders_count,
            "total_spent": customers.total_spent + customer.excluded.total_spent,
        },
    ).add_cte(sales)


_COUNT_SALE = _count_sale_statement()


async def count_sale(session: AsyncSession, *, order_id: int, sign: int) -> None:
    """Add a paid order to the reports (sign=1), or take a refunded one out (sign=-1);
    an unknown order counts nothing."""
    await session.execute(_COUNT_SALE, {"order_id": order_id, "sign": sign})


def bestsellers(limit: int) -> Select[ProductSales]:
    return (
        select(ProductSales)
        .where(ProductSales.units > 0)
        .order_by(ProductSales.units.desc(), ProductSales.product_id)
        .limit(limit)
    )


def customer_stats() -> Select[CustomerStats]:
    return select(CustomerStats).where(CustomerStats.orders_count > 0)
