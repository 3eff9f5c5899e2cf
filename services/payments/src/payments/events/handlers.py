"""The events payments reacts to: the orders service's (its replica, refunds) and its
own PaymentRequested (the processor)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments.db import orders
from payments.domain import processing
from payments.domain.processing import RetryPolicy
from payments.provider.base import PaymentProvider
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers

ORDERS_GROUP = "payments"
PROCESSOR_GROUP = "payments-processor"
ORDER_EVENTS = (
    "orders.OrderPlaced",
    "orders.OrderAwaitingPayment",
    "orders.OrderPaymentFailed",
    "orders.OrderPaid",
    "orders.OrderCancelled",
    "orders.OrderShipped",
    "orders.OrderCompleted",
)

# The fields payments reads; the producers may send more.


class OrderState(BaseModel):
    order_id: int
    user_id: int
    status: str
    previous_status: str | None = None
    total_amount: Decimal
    currency: str


class PaymentRequested(BaseModel):
    payment_id: int


async def apply_order_state(session: AsyncSession, event: Envelope[OrderState]) -> bool:
    """Keep the replica at the order's newest state; True if this event was the newest."""
    order = event.payload
    return await orders.apply(
        session,
        order_id=order.order_id,
        user_id=order.user_id,
        total_amount=order.total_amount,
        currency=order.currency,
        status=order.status,
        version=event.occurred_at,
    )


def build_order_handlers(provider: PaymentProvider, retry: RetryPolicy) -> EventHandlers:
    """Handlers of `orders.events` (group `payments`)."""
    handlers = EventHandlers()

    async def on_order_changed(session: AsyncSession, event: Envelope[OrderState]) -> None:
        await apply_order_state(session, event)

    async def on_order_cancelled(session: AsyncSession, event: Envelope[OrderState]) -> None:
        await apply_order_state(session, event)
        # Not only when it was `paid`: a charge that raced the cancellation is refunded too.
        await processing.refund_order(session, provider, retry, order_id=event.payload.order_id)

    for event_type in ORDER_EVENTS:
        if event_type == "orders.OrderCancelled":
            handlers.on(event_type, OrderState)(on_order_cancelled)
        else:
            # One upsert that keeps the newest version: in autocommit, without an inbox row.
            handlers.autocommit(event_type, OrderState)(on_order_changed)
    return handlers


def build_processor_handlers(
    sessions: async_sessionmaker[AsyncSession], provider: PaymentProvider, retry: RetryPolicy
) -> EventHandlers:
    """Handlers of the service's own `payments.events` (group `payments-processor`).

    A task: the charge commits its claim, calls the provider with no transaction open,
    then commits the outcome; the payment's status makes a redelivery harmless."""
    handlers = EventHandlers()

    @handlers.task("payments.PaymentRequested", PaymentRequested)
    async def charge(event: Envelope[PaymentRequested]) -> None:
        await processing.charge(sessions, provider, retry, payment_id=event.payload.payment_id)

    # The processor's own outcomes: orders and the projector read them.
    handlers.ignore(
        "payments.PaymentSucceeded", "payments.PaymentFailed", "payments.PaymentRefunded"
    )
    return handlers
