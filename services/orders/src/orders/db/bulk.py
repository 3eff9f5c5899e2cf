"""Bulk writes of the historical load data: ids reserved from the sequence, rows by COPY."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from orders.db.tables import SCHEMA, CustomerStats, ProductReplica, ProductSales, UserReplica
from orders.history.tables import SCHEMA as HISTORY_SCHEMA

ORDER_COLUMNS = (
    "id",
    "user_id",
    "status",
    "total_amount",
    "currency",
    "cancel_reason",
    "expires_at",
    "created_at",
    "updated_at",
)
# No id: COPY lets the identity column number the lines.
ITEM_COLUMNS = ("order_id", "product_id", "name", "quantity", "unit_price", "line_total")
TIMELINE_COLUMNS = (
    "order_id",
    "occurred_at",
    "event_id",
    "user_id",
    "event_type",
    "status",
    "detail",
)


async def replica_users(conn: AsyncConnection) -> list[int]:
    """The ids of every user the orders service knows."""
    return list((await conn.execute(select(UserReplica.user_id).order_by("user_id"))).scalars())


async def replica_products(conn: AsyncConnection) -> list[tuple[int, str, Decimal]]:
    """(id, name, price) of every active product of the replica."""
    stmt = (
        select(ProductReplica.product_id, ProductReplica.name, ProductReplica.price)
        .where(ProductReplica.active)
        .order_by(ProductReplica.product_id)
    )
    return [(r.product_id, r.name, r.price) for r in (await conn.execute(stmt)).all()]


async def reserve_order_ids(conn: AsyncConnection, count: int) -> list[int]:
    """`count` fresh ids from the orders sequence (the shop may be placing orders meanwhile)."""
    stmt = text(
        f"SELECT nextval(pg_get_serial_sequence('{SCHEMA}.orders', 'id'))"  # noqa: S608
        " FROM generate_series(1, :count)"
    )
    return list((await conn.execute(stmt, {"count": count})).scalars())


async def copy_rows(
    conn: AsyncConnection,
    *,
    orders: Sequence[tuple[Any, ...]],
    items: Sequence[tuple[Any, ...]],
    history: Sequence[tuple[Any, ...]],
    history_columns: Sequence[str],
    timeline: Sequence[tuple[Any, ...]],
) -> None:
    """COPY one batch into the orders tables and the history projection's tables."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None, "an open connection always has its asyncpg connection"
    for table, schema, columns, records in (
        ("orders", SCHEMA, ORDER_COLUMNS, orders),
        ("order_items", SCHEMA, ITEM_COLUMNS, items),
        ("orders_by_user", HISTORY_SCHEMA, history_columns, history),
        ("order_timeline", HISTORY_SCHEMA, TIMELINE_COLUMNS, timeline),
    ):
        await driver.copy_records_to_table(
            table, schema_name=schema, columns=list(columns), records=records
        )


async def add_sales(
    conn: AsyncConnection,
    *,
    products: dict[int, tuple[str, int, Decimal]],
    customers: dict[int, tuple[int, Decimal]],
) -> None:
    """Add the batch's paid orders to the report tables, as the reports consumer would."""
    if products:
        values = insert(ProductSales).values(
            [
                {"product_id": pid, "name": name, "units": units, "revenue": revenue}
                for pid, (name, units, revenue) in sorted(products.items())
            ]
        )
        await conn.execute(
            values.on_conflict_do_update(
                index_elements=[ProductSales.product_id],
                set_={
                    "name": values.excluded.name,
                    "units": ProductSales.units + values.excluded.units,
                    "revenue": ProductSales.revenue + values.excluded.revenue,
                },
            )
        )
    if customers:
        stats = insert(CustomerStats).values(
            [
                {"user_id": uid, "orders_count": count, "total_spent": spent}
                for uid, (count, spent) in sorted(customers.items())
            ]
        )
        await conn.execute(
            stats.on_conflict_do_update(
                index_elements=[CustomerStats.user_id],
                set_={
                    "orders_count": CustomerStats.orders_count + stats.excluded.orders_count,
                    "total_spent": CustomerStats.total_spent + stats.excluded.total_spent,
                },
            )
        )
