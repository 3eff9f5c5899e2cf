"""The events the catalog reacts to: the orders service's checkout saga."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db.cache import ProductCache
from catalog.domain import stock
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers

# The fields the catalog reads; the orders service may send more.


class OrderLine(BaseModel):
    product_id: int
    quantity: int


class OrderPlaced(BaseModel):
    order_id: int
    lines: list[OrderLine]


class OrderPaid(BaseModel):
    order_id: int


class OrderCancelled(BaseModel):
    order_id: int
    reason: str


def build_handlers(cache: ProductCache) -> EventHandlers:
    handlers = EventHandlers()

    @handlers.on("orders.OrderPlaced", OrderPlaced)
    async def reserve(session: AsyncSession, event: Envelope[OrderPlaced]) -> None:
        lines = [(line.product_id, line.quantity) for line in event.payload.lines]
        await stock.reserve(session, cache, order_id=event.payload.order_id, lines=lines)

    # One conditional update, idempotent by itself: in autocommit, no inbox row. It runs
    # before its batch's transactional entries, but its order's reservation is never among
    # them: the catalog committed it before the order could be paid (StockReserved is
    # what made it payable). A cancellation of the paid order releases either way.
    @handlers.autocommit("orders.OrderPaid", OrderPaid)
    async def commit(session: AsyncSession, event: Envelope[OrderPaid]) -> None:
        await stock.commit(session, order_id=event.payload.order_id)

    @handlers.on("orders.OrderCancelled", OrderCancelled)
    async def release(session: AsyncSession, event: Envelope[OrderCancelled]) -> None:
        await stock.release(
            session, cache, order_id=event.payload.order_id, reason=event.payload.reason
        )

    # Stock moves only at placement, payment and cancellation.
    handlers.ignore(
        "orders.OrderAwaitingPayment",
        "orders.OrderPaymentFailed",
        "orders.OrderShipped",
        "orders.OrderCompleted",
    )
    return handlers
