"""`/api/cart-items/`: lines of your carts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from orders.api.deps import Settings
from orders.api.schemas import CartItemIn, CartLineOut, QuantityPatch
from orders.db import carts as repo
from orders.db.tables import CartItem
from orders.domain import carts
from orders.domain.access import owner_filter
from shared.api.ids import MAX_ID, PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.db import DbSession
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/cart-items", tags=["cart-items"])


@router.get("/", responses=problem_responses(401, 422))
async def list_cart_items(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    cart: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this cart's lines.")
    ] = None,
) -> Page[CartLineOut]:
    """Lines of your carts, oldest first (staff: everyone's)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.items_stmt(owner_id=owner_filter(user), cart_id=cart),
        key_columns=[CartItem.id],
        key_of=lambda i: (i.id,),
        params=page,
        request=request,
    )
    return Page(results=[CartLineOut.of(i) for i in rows], next=next_url, previous=previous_url)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The product was in the cart; its quantity went up."},
        **problem_responses(401, 404, 409, 422),
    },
)
async def add_cart_item(
    body: CartItemIn, user: CurrentUser, session: DbSession, response: Response, settings: Settings
) -> CartLineOut:
    """Put a product in your cart; adding one already there adds to its quantity."""
    item, created = await carts.add_item(
        session, user, **body.model_dump(), limits=settings.limits()
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return CartLineOut.of(item)


@router.get("/{item_id}/", responses=problem_responses(401, 404, 422))
async def get_cart_item(item_id: PathId, user: CurrentUser, session: DbSession) -> CartLineOut:
    return CartLineOut.of(await carts.get_item(session, user, item_id))


@router.patch("/{item_id}/", responses=problem_responses(401, 404, 422))
async def update_cart_item(
    item_id: PathId, body: QuantityPatch, user: CurrentUser, session: DbSession
) -> CartLineOut:
    """Set a line's quantity."""
    item = await carts.set_quantity(session, user, item_id, quantity=body.quantity)
    return CartLineOut.of(item)


@router.delete(
    "/{item_id}/", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(401, 404)
)
async def delete_cart_item(item_id: PathId, user: CurrentUser, session: DbSession) -> Response:
    await carts.remove_item(session, user, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
