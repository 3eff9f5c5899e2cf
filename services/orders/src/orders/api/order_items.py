"""`/api/order-items/`: lines of your orders; drafts take new ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from orders.api.deps import Settings
from orders.api.schemas import OrderItemIn, OrderLineOut, QuantityPatch
from orders.db import orders as repo
from orders.db.tables import OrderItem
from orders.domain import checkout
from orders.domain.access import can_read, owner_filter
from shared.api.ids import MAX_ID, PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.db import DbSession
from shared.errors import NotFound
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/order-items", tags=["order-items"])


@router.get("/", responses=problem_responses(401, 422))
async def list_order_items(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    order: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this order's lines.")
    ] = None,
) -> Page[OrderLineOut]:
    """Lines of your orders, oldest first (staff: everyone's)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.items_stmt(owner_id=owner_filter(user), order_id=order),
        key_columns=[OrderItem.id],
        key_of=lambda i: (i.id,),
        params=page,
        request=request,
    )
    return Page(
        results=[OrderLineOut.model_validate(i) for i in rows],
        next=next_url,
        previous=previous_url,
    )


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The product was on the draft; its quantity went up."},
        **problem_responses(401, 404, 409, 422),
    },
)
async def add_order_item(
    body: OrderItemIn, user: CurrentUser, session: DbSession, response: Response, settings: Settings
) -> OrderLineOut:
    """Add a product to your draft order at its current price (drafts only: 409 otherwise)."""
    line, created = await checkout.add_item(
        session, user, **body.model_dump(), limits=settings.limits()
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return OrderLineOut.model_validate(line)


@router.get("/{item_id}/", responses=problem_responses(401, 404, 422))
async def get_order_item(item_id: PathId, user: CurrentUser, session: DbSession) -> OrderLineOut:
    line = await repo.get_item(session, item_id)
    if line is None or not can_read(user, line.order.user_id):
        raise NotFound("No such order item.")
    return OrderLineOut.model_validate(line)


@router.patch("/{item_id}/", responses=problem_responses(401, 404, 409, 422))
async def update_order_item(
    item_id: PathId, body: QuantityPatch, user: CurrentUser, session: DbSession
) -> OrderLineOut:
    """Set a line's quantity on your draft (drafts only: 409 otherwise)."""
    line = await checkout.set_line_quantity(session, user, item_id, quantity=body.quantity)
    return OrderLineOut.model_validate(line)


@router.delete(
    "/{item_id}/",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404, 409),
)
async def delete_order_item(item_id: PathId, user: CurrentUser, session: DbSession) -> Response:
    """Take a line off your draft (drafts only: 409 otherwise)."""
    await checkout.remove_line(session, user, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
