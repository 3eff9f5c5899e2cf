"""Review use cases: one review per user per product, aggregates kept on the product."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db import products, reviews
from catalog.db.cache import ProductCache
from catalog.db.tables import Review
from shared.auth import Principal
from shared.db import after_commit
from shared.errors import Conflict, NotFound, Unprocessable


async def create(
    session: AsyncSession,
    cache: ProductCache,
    user: Principal,
    *,
    product_id: int,
    rating: int,
    comment: str,
) -> Review:
    if await products.get(session, product_id) is None:
        raise Unprocessable("No such product.", loc=("body", "product_id"))
    review = await reviews.insert_review(
        session, product_id=product_id, user_id=user.id, rating=rating, comment=comment
    )
    if review is None:
        raise Conflict("You have already reviewed this product; edit that review instead.")
    await products.add_rating(session, product_id, delta=rating, count=1)
    after_commit(session, lambda: cache.invalidate(product_id))
    return review


async def _own(session: AsyncSession, user: Principal, review_id: int, *, staff_ok: bool) -> Review:
    review = await reviews.get(session, review_id, for_update=True)
    if review is None or (review.user_id != user.id and not (staff_ok and user.is_staff)):
        raise NotFound("No such review.")
    return review


async def update(
    session: AsyncSession,
    cache: ProductCache,
    user: Principal,
    review_id: int,
    *,
    rating: int | None,
    comment: str | None,
) -> Review:
    review = await _own(session, user, review_id, staff_ok=False)
    if rating is not None and rating != review.rating:
        await products.add_rating(session, review.product_id, delta=rating - review.rating, count=0)
        review.rating = rating
    if comment is not None:
        review.comment = comment
    await session.flush()
    product_id = review.product_id
    after_commit(session, lambda: cache.invalidate(product_id))
    return review


async def delete(
    session: AsyncSession, cache: ProductCache, user: Principal, review_id: int
) -> None:
    """Authors delete their reviews; staff may remove any (moderation)."""
    review = await _own(session, user, review_id, staff_ok=True)
    await products.add_rating(session, review.product_id, delta=-review.rating, count=-1)
    await session.delete(review)
    await session.flush()
    product_id = review.product_id
    after_commit(session, lambda: cache.invalidate(product_id))
