"""Queries on products: the filtered, ordered list, lookups, and atomic counters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, Row, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload

from catalog.db.categories import descendants_cte
from catalog.db.tables import Category, Product
from shared.pagination import KeyColumn

Ordering = Literal["price", "-price", "created_at", "-created_at", "name", "-name"]
ORDERINGS: tuple[str, ...] = Ordering.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ProductFilter:
    category_id: int | None = None
    search: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    ordering: Ordering | None = None


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A list statement and how to page through it (see shared.pagination.keyset_page)."""

    stmt: Select[Any]
    key_columns: Sequence[KeyColumn]
    key_of: Callable[[Any], tuple[Any, ...]]
    descending: bool
    scalars: bool


def _live() -> ColumnElement[bool]:
    return Product.deleted_at.is_(None)


def list_query(f: ProductFilter) -> ListQuery:
    """One statement for any combination of filters; each filter has an index to use."""
    stmt = select(Product).options(joinedload(Product.category, innerjoin=True)).where(_live())
    if f.category_id is not None:
        tree = descendants_cte(f.category_id)
        stmt = stmt.where(Product.category_id.in_(select(tree.c.id)))
    if f.min_price is not None:
        stmt = stmt.where(Product.price >= f.min_price)
    if f.max_price is not None:
        stmt = stmt.where(Product.price <= f.max_price)
    if f.in_stock is not None:
        stmt = stmt.where(Product.stock_quantity > 0 if f.in_stock else Product.stock_quantity == 0)

    if f.search is not None:
        query = func.websearch_to_tsquery("english", f.search)
        stmt = stmt.where(Product.search_vector.op("@@")(query))
        if f.ordering is None:
            # Most relevant first; the id breaks ties so pages never overlap.
            # REAL in PostgreSQL; typed so that a cursor's rank is checked as a float.
            rank = func.ts_rank_cd(Product.search_vector, query, type_=Float).label("rank")
            return ListQuery(
                stmt=stmt.add_columns(rank),
                key_columns=[rank, Product.id],
                key_of=lambda row: (row.rank, row.Product.id),
                descending=True,
                scalars=False,
            )

    ordering = f.ordering or "-created_at"
    column = {"price": Product.price, "created_at": Product.created_at, "name": Product.name}[
        ordering.lstrip("-")
    ]
    name = column.key
    return ListQuery(
        stmt=stmt,
        key_columns=[column, Product.id],
        key_of=lambda p: (getattr(p, name), p.id),
        descending=ordering.startswith("-"),
        scalars=True,
    )


async def get(
    session: AsyncSession, product_id: int, *, for_update: bool = False
) -> Product | None:
    """A live product with its category loaded."""
    stmt = (
        select(Product)
        .options(joinedload(Product.category, innerjoin=True))
        .where(Product.id == product_id, _live())
    )
    if for_update:
        stmt = stmt.with_for_update(of=Product)
    return (await session.execute(stmt)).scalar_one_or_none()


# Product pages are the hottest read: a Core statement, no ORM objects to build.
_PAGE = (
    select(
        Product.id,
        Product.name,
        Product.description,
        Product.price,
        Product.stock_quantity,
        Product.rating_sum,
        Product.review_count,
        Product.created_at,
        Product.updated_at,
        Category.id.label("category_id"),
        Category.name.label("category_name"),
    )
    .join(Category, Category.id == Product.category_id)
    .where(Product.id == bindparam("product_id"), _live())
)


# A row of `_PAGE`: the product's columns plus category_id and category_name.
PageRow = Row[*tuple[Any, ...]]


async def get_page(conn: AsyncConnection, product_id: int) -> PageRow | None:
    """What a product page shows of a live product (see `ProductOut.of`)."""
    return (await conn.execute(_PAGE, {"product_id": product_id})).first()


async def add_rating(session: AsyncSession, product_id: int, *, delta: int, count: int) -> None:
    """Adjust the rating aggregates atomically: concurrent reviews never lose an update."""
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(
            rating_sum=Product.rating_sum + delta,
            review_count=Product.review_count + count,
        )
    )
