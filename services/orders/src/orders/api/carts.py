"""`/api/shopping-carts/`: each user's open cart, its lines priced from the product replica."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from orders.api.schemas import CartOut
from orders.db import carts as repo
from orders.db.tables import Cart
from orders.domain import carts
from orders.domain.access import owner_filter
from shared.api.ids import PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.db import DbSession
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/shopping-carts", tags=["shopping-carts"])


@router.get("/", responses=problem_responses(401, 422))
async def list_carts(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[CartOut]:
    """Your carts, newest first (staff: everyone's)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.list_stmt(owner_id=owner_filter(user)),
        key_columns=[Cart.id],
        key_of=lambda c: (c.id,),
        params=page,
        request=request,
        descending=True,
    )
    return Page(results=[CartOut.of(c) for c in rows], next=next_url, previous=previous_url)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Your open cart already existed."}, **problem_responses(401)},
)
async def open_cart(user: CurrentUser, session: DbSession, response: Response) -> CartOut:
    """Your open cart: created (201), or the one you already have (200)."""
    cart, created = await carts.open_cart(session, user)
    if not created:
        response.status_code = status.HTTP_200_OK
    return CartOut.of(cart)


@router.get("/{cart_id}/", responses=problem_responses(401, 404, 422))
async def get_cart(cart_id: PathId, user: CurrentUser, session: DbSession) -> CartOut:
    """A cart with its lines and total."""
    return CartOut.of(await carts.get(session, user, cart_id))
