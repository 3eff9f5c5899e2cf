"""`/api/wishlist-items/`: products on your wishlists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from orders.api.schemas import WishlistItemIn, WishlistItemOut
from orders.db import wishlists as repo
from orders.db.tables import WishlistItem
from orders.domain import wishlists
from orders.domain.access import owner_filter
from shared.api.ids import MAX_ID, PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.db import DbSession
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/wishlist-items", tags=["wishlist-items"])


@router.get("/", responses=problem_responses(401, 422))
async def list_wishlist_items(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    wishlist: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this wishlist's items.")
    ] = None,
) -> Page[WishlistItemOut]:
    """Items of your wishlists, oldest first (staff: everyone's)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.items_stmt(owner_id=owner_filter(user), wishlist_id=wishlist),
        key_columns=[WishlistItem.id],
        key_of=lambda i: (i.id,),
        params=page,
        request=request,
    )
    return Page(results=[WishlistItemOut.of(i) for i in rows], next=next_url, previous=previous_url)


@router.post(
    "/", status_code=status.HTTP_201_CREATED, responses=problem_responses(401, 404, 409, 422)
)
async def add_wishlist_item(
    body: WishlistItemIn, user: CurrentUser, session: DbSession
) -> WishlistItemOut:
    """Put a product on your wishlist (once; 409 for a second time)."""
    return WishlistItemOut.of(await wishlists.add_item(session, user, **body.model_dump()))


@router.get("/{item_id}/", responses=problem_responses(401, 404, 422))
async def get_wishlist_item(
    item_id: PathId, user: CurrentUser, session: DbSession
) -> WishlistItemOut:
    return WishlistItemOut.of(await wishlists.get_item(session, user, item_id))


@router.delete(
    "/{item_id}/", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401, 404)
)
async def delete_wishlist_item(item_id: PathId, user: CurrentUser, session: DbSession) -> Response:
    await wishlists.remove_item(session, user, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
