"""`/api/orders/history/`: the order-history projection, read from its store (Cassandra,
or the embedded Postgres store), never from the orders tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel

from orders.api.schemas import Money
from orders.history.model import OrderSummary, PageKey, TimelineEntry
from orders.history.settings import CassandraSettings
from orders.history.store import HistoryStore, open_store
from orders.history.tables import orders_by_user
from shared.api.ids import MAX_ID, PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser
from shared.errors import NotFound
from shared.pagination import (
    Cursor,
    Page,
    PageParams,
    decode_cursor,
    page_link,
    page_params,
)

# The cursor holds the clustering key of a page's edge row.
CURSOR_COLUMNS = [orders_by_user.c.placed_at, orders_by_user.c.order_id]


@asynccontextmanager
async def _store_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The store lives as long as the app (runs inside the app's lifespan, after the engine).

    It connects on first use, so the app starts while Cassandra is still coming up, and
    it never migrates: the projector owns the CQL schema.
    """
    store = open_store(app.state.engine, CassandraSettings(), migrate=False)
    app.state.history_store = store
    try:
        yield
    finally:
        await store.close()


router = APIRouter(prefix="/api/orders/history", tags=["order-history"], lifespan=_store_lifespan)


async def _store(request: Request) -> HistoryStore:
    store: HistoryStore = request.app.state.history_store
    return store


Store = Annotated[HistoryStore, Depends(_store)]


class HistoryLineOut(BaseModel):
    product_id: int
    name: str
    quantity: int
    unit_price: Money


class PaymentOut(BaseModel):
    outcome: str
    method: str
    card_brand: str | None
    card_last4: str | None


class HistoryOrderOut(BaseModel):
    order_id: int
    placed_at: datetime
    status: str | None
    total: Money | None
    currency: str | None
    lines: list[HistoryLineOut]
    payment: PaymentOut | None
    last_event_at: datetime

    @classmethod
    def of(cls, order: OrderSummary) -> HistoryOrderOut:
        payment = order.payment
        return cls(
            order_id=order.order_id,
            placed_at=order.placed_at,
            status=order.status,
            total=order.total,
            currency=order.currency,
            lines=[
                HistoryLineOut(
                    product_id=line.product_id,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                )
                for line in order.lines
            ],
            payment=None
            if payment is None
            else PaymentOut(
                outcome=payment.outcome,
                method=payment.method,
                card_brand=payment.card_brand,
                card_last4=payment.card_last4,
            ),
            last_event_at=order.last_event_at,
        )


class TimelineEntryOut(BaseModel):
    event_id: UUID
    type: str
    occurred_at: datetime
    status: str | None
    detail: dict[str, str]

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryOut:
        return cls(
            event_id=entry.event_id,
            type=entry.event_type,
            occurred_at=entry.occurred_at,
            status=entry.status,
            detail=entry.detail,
        )


class TimelineOut(BaseModel):
    order_id: int
    events: list[TimelineEntryOut]


@router.get("/", responses=problem_responses(401, 404, 422))
async def list_history(
    user: CurrentUser,
    store: Store,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    user_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Staff only: whose history.")
    ] = None,
) -> Page[HistoryOrderOut]:
    """Your placed orders, newest first, with status, lines and payment (from the projection)."""
    owner = user.id if user_id is None else user_id
    if owner != user.id and not user.is_staff:
        raise NotFound("No such user.")  # another user's id is not a thing to confirm
    cursor = decode_cursor(page.cursor, CURSOR_COLUMNS) if page.cursor else None
    backwards = cursor is not None and cursor.direction == "prev"
    result = await store.list_orders(
        owner,
        limit=page.limit,
        after=PageKey(*cursor.key) if cursor else None,
        direction="prev" if backwards else "next",
    )
    rows = result.orders
    next_cursor = previous_cursor = None
    if rows:
        if result.has_more or backwards:
            next_cursor = Cursor((rows[-1].placed_at, rows[-1].order_id), "next")
        if (result.has_more and backwards) or (cursor is not None and not backwards):
            previous_cursor = Cursor((rows[0].placed_at, rows[0].order_id), "prev")
    return Page(
        results=[HistoryOrderOut.of(o) for o in rows],
        next=page_link(request, next_cursor),
        previous=page_link(request, previous_cursor),
    )


@router.get("/{order_id}/", responses=problem_responses(401, 404, 422))
async def order_timeline(order_id: PathId, user: CurrentUser, store: Store) -> TimelineOut:
    """Everything that happened to one of your orders, oldest first (staff: any order)."""
    timeline = await store.timeline(order_id)
    if timeline is None or not (user.is_staff or timeline.user_id == user.id):
        raise NotFound("No such order in your history.")
    return TimelineOut(
        order_id=timeline.order_id, events=[TimelineEntryOut.of(e) for e in timeline.entries]
    )
