"""Report queries: low stock (indexed) and category statistics (a materialized view)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    Numeric,
    Select,
    Table,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import joinedload

from catalog.db.tables import SCHEMA, Category, Product

# Not in the service's metadata: migrations create and own it as a view, not a table.
category_stats = Table(
    "category_stats",
    MetaData(schema=SCHEMA),
    Column("category_id", BigInteger, primary_key=True),
    Column("product_count", BigInteger),
    Column("total_stock", BigInteger),
    Column("average_price", Numeric),
    Column("refreshed_at", DateTime(timezone=True)),
)

# One refresher at a time across replicas; the others skip their turn.
REFRESH_LOCK = 7_305_001


def low_stock_query(threshold: int) -> Select[Product]:
    """Products with at most `threshold` units left, each with its category (one join)."""
    return (
        select(Product)
        .where(Product.deleted_at.is_(None), Product.stock_quantity <= threshold)
        .options(joinedload(Product.category, innerjoin=True))
    )


def category_stats_query() -> Select[Any]:
    """Every category with its statistics (zeros for categories without products)."""
    return select(
        Category.id.label("category_id"),
        Category.name.label("category_name"),
        category_stats.c.product_count,
        category_stats.c.total_stock,
        category_stats.c.average_price,
        category_stats.c.refreshed_at,
    ).outerjoin(category_stats, category_stats.c.category_id == Category.id)


async def refresh_category_stats(engine: AsyncEngine) -> bool:
    """Recompute the view unless another replica is at it; True if this one did."""
    async with engine.connect() as conn:
        got_lock = await conn.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": REFRESH_LOCK}
        )
        if not got_lock:
            return False
        try:
            # Off the request path: the request-path statement timeout does not apply.
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            await conn.execute(
                text("REFRESH MATERIALIZED VIEW CONCURRENTLY catalog.category_stats")
            )
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REFRESH_LOCK})
            await conn.commit()
    return True
