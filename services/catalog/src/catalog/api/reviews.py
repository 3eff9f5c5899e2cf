"""`/api/reviews/`: one review per user per product. Anyone reads; authors edit theirs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from catalog.api.deps import Cache
from catalog.api.schemas import ReviewIn, ReviewOut, ReviewPatch
from catalog.db import reviews as repo
from catalog.db.tables import Review
from catalog.domain import reviews
from shared.api.ids import Id, PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.db import DbSession
from shared.errors import NotFound
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/reviews", tags=["reviews"])


@router.get("/", responses=problem_responses(422))
async def list_reviews(
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    product: Annotated[Id | None, Query(description="Only reviews of this product.")] = None,
    user: Annotated[Id | None, Query(description="Only reviews by this user.")] = None,
) -> Page[ReviewOut]:
    """Reviews, newest first."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.list_stmt(product_id=product, user_id=user),
        key_columns=[Review.id],
        key_of=lambda r: (r.id,),
        params=page,
        request=request,
        descending=True,
    )
    return Page(
        results=[ReviewOut.model_validate(r) for r in rows], next=next_url, previous=previous_url
    )


@router.get("/{review_id}/", responses=problem_responses(404, 422))
async def get_review(review_id: PathId, session: DbSession) -> ReviewOut:
    review = await repo.get(session, review_id)
    if review is None:
        raise NotFound("No such review.")
    return ReviewOut.model_validate(review)


@router.post("/", status_code=status.HTTP_201_CREATED, responses=problem_responses(401, 409, 422))
async def create_review(
    body: ReviewIn, user: CurrentUser, session: DbSession, cache: Cache
) -> ReviewOut:
    """Review a product (once per product; 409 for a second one)."""
    review = await reviews.create(session, cache, user, **body.model_dump())
    return ReviewOut.model_validate(review)


@router.patch("/{review_id}/", responses=problem_responses(401, 404, 422))
async def update_review(
    review_id: PathId, body: ReviewPatch, user: CurrentUser, session: DbSession, cache: Cache
) -> ReviewOut:
    """Edit your own review; anyone else's is 404."""
    review = await reviews.update(
        session, cache, user, review_id, rating=body.rating, comment=body.comment
    )
    return ReviewOut.model_validate(review)


@router.delete(
    "/{review_id}/", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401, 404)
)
async def delete_review(
    review_id: PathId, user: CurrentUser, session: DbSession, cache: Cache
) -> Response:
    """Delete your own review (staff may delete any)."""
    await reviews.delete(session, cache, user, review_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
