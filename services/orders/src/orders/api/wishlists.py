"""`/api/wishlists/`: your named lists of products to buy later."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from orders.api.schemas import WishlistIn, WishlistOut
from orders.db import wishlists as repo
from orders.db.tables import Wishlist
from orders.domain import wishlists
from orders.domain.access import owner_filter
from shared.api.ids import PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.db import DbSession
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/wishlists", tags=["wishlists"])


@router.get("/", responses=problem_responses(401, 422))
async def list_wishlists(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[WishlistOut]:
    """Your wishlists with their items, oldest first (staff: everyone's)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.list_stmt(owner_id=owner_filter(user)),
        key_columns=[Wishlist.id],
        key_of=lambda w: (w.id,),
        params=page,
        request=request,
    )
    return Page(results=[WishlistOut.of(w) for w in rows], next=next_url, previous=previous_url)


@router.post("/", status_code=status.HTTP_201_CREATED, responses=problem_responses(401, 409, 422))
async def create_wishlist(body: WishlistIn, user: CurrentUser, session: DbSession) -> WishlistOut:
    """Start a wishlist; names are unique per user (409 otherwise)."""
    return WishlistOut.of(await wishlists.create(session, user, name=body.name))


@router.get("/{wishlist_id}/", responses=problem_responses(401, 404, 422))
async def get_wishlist(wishlist_id: PathId, user: CurrentUser, session: DbSession) -> WishlistOut:
    return WishlistOut.of(await wishlists.get(session, user, wishlist_id))


@router.patch("/{wishlist_id}/", responses=problem_responses(401, 404, 409, 422))
async def rename_wishlist(
    wishlist_id: PathId, body: WishlistIn, user: CurrentUser, session: DbSession
) -> WishlistOut:
    """Rename your wishlist; names are unique per user (409 otherwise)."""
    return WishlistOut.of(await wishlists.rename(session, user, wishlist_id, name=body.name))


@router.delete(
    "/{wishlist_id}/", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401, 404)
)
async def delete_wishlist(wishlist_id: PathId, user: CurrentUser, session: DbSession) -> Response:
    """Delete your wishlist and its items."""
    await wishlists.delete(session, user, wishlist_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
