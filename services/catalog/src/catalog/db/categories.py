"""Queries on categories."""

from __future__ import annotations

from sqlalchemy import CTE, Select, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.tables import Category, Product


def descendants_cte(category_id: int) -> CTE:
    """The category and everything below it, as a recursive CTE of ids."""
    tree = select(Category.id).where(Category.id == category_id).cte("tree", recursive=True)
    return tree.union_all(select(Category.id).where(Category.parent_id == tree.c.id))


def list_stmt(*, parent_id: int | None, top_level: bool) -> Select[Category]:
    """Categories, the children of `parent_id` or else (if `top_level`) the roots."""
    stmt = select(Category)
    if parent_id is not None:
        stmt = stmt.where(Category.parent_id == parent_id)
    elif top_level:
        stmt = stmt.where(Category.parent_id.is_(None))
    return stmt


async def get(session: AsyncSession, category_id: int) -> Category | None:
    return await session.get(Category, category_id)


async def name_taken(
    session: AsyncSession, *, name: str, parent_id: int | None, exclude_id: int | None = None
) -> bool:
    stmt = select(
        exists().where(
            func.lower(Category.name) == name.lower(),
            Category.parent_id.is_not_distinct_from(parent_id),
            Category.id != (exclude_id or 0),
        )
    )
    return bool(await session.scalar(stmt))


async def is_ancestor_or_self(session: AsyncSession, *, candidate: int, of: int) -> bool:
    """True if `candidate` is `of` or one of its ancestors (walking parent links up)."""
    chain = (
        select(Category.id, Category.parent_id)
        .where(Category.id == of)
        .cte("chain", recursive=True)
    )
    chain = chain.union_all(
        select(Category.id, Category.parent_id).where(Category.id == chain.c.parent_id)
    )
    return bool(await session.scalar(select(exists().where(chain.c.id == candidate))))


async def lock_tree(session: AsyncSession) -> None:
    """Serialize changes to the tree's shape, so two moves cannot form a cycle together."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(literal("catalog.categories"))))
    )


async def has_children(session: AsyncSession, category_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(Category.parent_id == category_id))))


async def has_products(session: AsyncSession, category_id: int) -> bool:
    return bool(await session.scalar(select(exists().where(Product.category_id == category_id))))


async def all_categories(session: AsyncSession) -> list[Category]:
    return list(
        (await session.scalars(select(Category).order_by(Category.name, Category.id))).all()
    )
