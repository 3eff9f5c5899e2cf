"""`/api/orders/`: place orders (from a cart, or as drafts), read them, and move them
along their lifecycle (customers cancel, staff ship and complete)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from orders.api.deps import Settings
from orders.api.schemas import OrderIn, OrderOut
from orders.db import orders as repo
from orders.db.tables import Order
from orders.domain import checkout, lifecycle
from orders.domain.access import owner_filter
from orders.domain.status import OrderStatus
from shared.api.idempotency import OptionalIdempotencyKey
from shared.api.ids import PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser, Principal, StaffUser
from shared.db import DbSession, read_connection, read_session
from shared.errors import Busy
from shared.idempotency import Answer
from shared.middleware import received_at
from shared.pagination import Page, PageParams, keyset_page, page_params
from shared.watch import RowWatch

router = APIRouter(prefix="/api/orders", tags=["orders"])
# The long poll answers within this; nginx's proxy_read_timeout (30 s) must stay above it
# with a margin, or a poll that runs its full course ends as a 504 at the gateway.
MAX_WAIT_SECONDS = 25
# A long poll's reads wait for a pooled connection like any request (up to the pool's
# wait, 20 s here), but each only until `wait` + this after the request reached the
# gateway, so the answer comes before nginx's 30 s (proxy.conf) even when every
# connection is taken. A read after a wake keeps what is left of that, not a few seconds
# of its own: in a flash sale the wakes come in bursts, and a poll that gave up on the
# pool after 4 s came back as a retry that needed the same connection.
LAST_READ_SECONDS = 4.0


@router.get("/", responses=problem_responses(401, 422))
async def list_orders(
    user: CurrentUser,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    in_status: Annotated[
        OrderStatus | None, Query(alias="status", description="Only orders in this status.")
    ] = None,
) -> Page[OrderOut]:
    """Your orders with their lines, newest first (staff: everyone's)."""
    # In autocommit, as `_read`: the page and its lines are two statements and two round
    # trips, without BEGIN and COMMIT. The lines' statement may see a later moment than the
    # orders' (only a draft's lines still change): each order still shows its own lines.
    async with read_session(request) as session:
        rows, next_url, previous_url = await keyset_page(
            session,
            repo.list_stmt(owner_id=owner_filter(user), status=in_status),
            key_columns=[Order.id],
            key_of=lambda o: (o.id,),
            params=page,
            request=request,
            descending=True,
            scalars=False,
        )
        lines = await repo.lines_of(session, [o.id for o in rows])
    results = [OrderOut.of(o, lines.get(o.id, [])) for o in rows]
    return Page(results=results, next=next_url, previous=previous_url)


def _render(order: Order) -> dict[str, Any]:
    return OrderOut.model_validate(order).model_dump(mode="json")


def _answer(response: Response, answer: Answer) -> dict[str, Any]:
    # A replay answers 200: the order exists already (documented for creation).
    response.status_code = status.HTTP_200_OK if answer.replayed else answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer.body


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses={
        200: {"description": "This Idempotency-Key already created this order."},
        **problem_responses(400, 401, 404, 409, 422),
    },
)
async def create_order(
    user: CurrentUser,
    session: DbSession,
    settings: Settings,
    request: Request,
    response: Response,
    body: Annotated[OrderIn | None, Body()] = None,
    idempotency_key: OptionalIdempotencyKey = None,
) -> dict[str, Any]:
    """Order the contents of a cart (status `pending`; the cart is emptied), or, without
    `cart_id`, start a `draft` to fill through /api/order-items/ and place."""
    answer = await _within_budget(
        request,
        settings.placement_budget_seconds,
        checkout.create_order(
            session,
            user,
            cart_id=(body or OrderIn()).cart_id,
            idempotency_key=idempotency_key,
            key_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
            currency=settings.currency,
            payment_window=timedelta(seconds=settings.reservation_window_seconds),
            limits=settings.limits(),
            render=_render,
        ),
    )
    return _answer(response, answer)


async def _within_budget(request: Request, seconds: float, placement: Awaitable[Answer]) -> Answer:
    """The placement, or 503 busy if it has not ended `seconds` after the request reached
    the app (its queueing on a busy loop counts, as it does for nginx): cancelled in its
    pool wait or between its statements, its transaction rolls back (the commit itself,
    after this, is never cut), so a retry with the same Idempotency-Key runs it afresh."""
    budget = asyncio.timeout_at(received_at(request.scope) + seconds)
    try:
        async with budget:
            return await placement
    except TimeoutError as exc:
        if budget.expired():
            raise Busy from exc
        raise  # a statement's own timeout, answered as such


@router.get("/{order_id}/", responses=problem_responses(401, 404, 422))
async def get_order(
    order_id: PathId,
    user: CurrentUser,
    request: Request,
    changed_from: Annotated[
        OrderStatus | None,
        Query(description="Long polling: answer once the order is no longer in this status..."),
    ] = None,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="...or after this many seconds.")
    ] = 0,
) -> OrderOut:
    """One order with its lines.

    With `changed_from=pending&wait=25` the answer waits until the order leaves `pending`
    (or 25 s pass), so an SPA learns the saga's outcome without polling in a loop.
    """
    if changed_from is not None and wait > 0:
        return await _await_change(request, user, order_id, changed_from, wait)
    return await _read(request, user, order_id)


async def _read(request: Request, user: Principal, order_id: int) -> OrderOut:
    # One statement in autocommit: no BEGIN and COMMIT round trips, and the connection
    # goes back to the pool as soon as the order is read.
    async with read_connection(request) as conn:
        return OrderOut.of_rows(await lifecycle.read(conn, user, order_id))


async def _await_change(
    request: Request,
    user: Principal,
    order_id: int,
    changed_from: OrderStatus,
    wait: float,
) -> OrderOut:
    watch: RowWatch = request.app.state.status_watch
    loop = asyncio.get_running_loop()
    # Counted from when the gateway passed the request on: a poll that waited for a busy
    # loop before it ran waits that much less, and still answers before nginx's 30 s.
    deadline = received_at(request.scope) + wait
    answer_by = deadline + LAST_READ_SECONDS
    # Registered before the read: a change that commits after it still wakes us. No
    # connection is held while we wait.
    async with watch.watching(order_id) as changed:
        order = await _read_by(answer_by, request, user, order_id)
        if changed is None:
            return order
        while order.status == changed_from and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await changed.wait()
            # A wake is not a change (the placement's own NOTIFY may arrive after the
            # first read): the status decides. Cleared before the read, so a change
            # committed after it wakes us again.
            changed.clear()
            order = await _read_by(answer_by, request, user, order_id)
        return order


async def _read_by(deadline: float, request: Request, user: Principal, order_id: int) -> OrderOut:
    """`_read`, or 503 busy if no pooled connection came before `deadline` (loop time)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await _read(request, user, order_id)
    except TimeoutError as exc:
        raise Busy from exc


@router.post(
    "/{order_id}/place/",
    response_model=OrderOut,
    responses=problem_responses(401, 404, 409, 422),
)
async def place_order(
    order_id: PathId,
    user: CurrentUser,
    session: DbSession,
    settings: Settings,
    request: Request,
    response: Response,
    idempotency_key: OptionalIdempotencyKey = None,
) -> dict[str, Any]:
    """Submit your draft: its lines are priced now, and it becomes `pending`."""
    answer = await _within_budget(
        request,
        settings.placement_budget_seconds,
        checkout.place(
            session,
            user,
            order_id,
            idempotency_key=idempotency_key,
            key_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
            payment_window=timedelta(seconds=settings.reservation_window_seconds),
            limits=settings.limits(),
            render=_render,
        ),
    )
    return _answer(response, answer)


@router.post("/{order_id}/cancel/", responses=problem_responses(401, 403, 404, 409, 422))
async def cancel_order(order_id: PathId, user: CurrentUser, session: DbSession) -> OrderOut:
    """Cancel your order while it is unpaid, or paid but not shipped (then refunded)."""
    return OrderOut.model_validate(await lifecycle.cancel(session, user, order_id))


@router.post("/{order_id}/ship/", responses=problem_responses(401, 403, 404, 409, 422))
async def ship_order(order_id: PathId, _: StaffUser, session: DbSession) -> OrderOut:
    """Staff: a paid order leaves the warehouse."""
    return OrderOut.model_validate(await lifecycle.ship(session, order_id))


@router.post("/{order_id}/complete/", responses=problem_responses(401, 403, 404, 409, 422))
async def complete_order(order_id: PathId, _: StaffUser, session: DbSession) -> OrderOut:
    """Staff: a shipped order was delivered."""
    return OrderOut.model_validate(await lifecycle.complete(session, order_id))
