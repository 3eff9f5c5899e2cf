"""Queries on reviews."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.tables import Review


def list_stmt(*, product_id: int | None, user_id: int | None) -> Select[Review]:
    """Reviews, of one product and/or by one user."""
    stmt = select(Review)
    if product_id is not None:
        stmt = stmt.where(Review.product_id == product_id)
    if user_id is not None:
        stmt = stmt.where(Review.user_id == user_id)
    return stmt


async def insert_review(session: AsyncSession, **values: Any) -> Review | None:
    """The new review, or None if this user already reviewed this product."""
    stmt = (
        insert(Review)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_reviews_product_user")
        .returning(Review)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, review_id: int, *, for_update: bool = False) -> Review | None:
    stmt = select(Review).where(Review.id == review_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
