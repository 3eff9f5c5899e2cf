"""The events the orders service reacts to: product and user replicas, and the checkout
saga's answers from the catalog and payments."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from orders.db import replicas, reports
from orders.domain import lifecycle
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers

# The fields this service reads; producers may send more.


class ProductState(BaseModel):
    product_id: int
    name: str
    price: Decimal
    active: bool


class ProductDeleted(BaseModel):
    product_id: int


class UserState(BaseModel):
    user_id: int
    email: str
    first_name: str = ""
    last_name: str = ""


class OrderRef(BaseModel):
    order_id: int


class StockRejected(BaseModel):
    order_id: int
    reason: str


def _product_replica(handlers: EventHandlers) -> None:
    """Keep the local copy of catalog products current (versioned upserts, each one
    statement that is idempotent by itself: in autocommit, `EventHandlers.autocommit`)."""

    async def product(session: AsyncSession, event: Envelope[ProductState]) -> None:
        p = event.payload
        await replicas.upsert_product(
            session,
            product_id=p.product_id,
            name=p.name,
            price=p.price,
            active=p.active,
            version=event.occurred_at,
        )

    handlers.autocommit("catalog.ProductCreated", ProductState)(product)
    handlers.autocommit("catalog.ProductUpdated", ProductState)(product)

    @handlers.autocommit("catalog.ProductDeleted", ProductDeleted)
    async def product_deleted(session: AsyncSession, event: Envelope[ProductDeleted]) -> None:
        await replicas.deactivate_product(
            session, product_id=event.payload.product_id, version=event.occurred_at
        )


def users_handlers() -> EventHandlers:
    """users.events: keep the local copy of users current (for confirmation emails), with
    versioned upserts in autocommit as the product replica."""
    handlers = EventHandlers()

    async def user(session: AsyncSession, event: Envelope[UserState]) -> None:
        u = event.payload
        await replicas.upsert_user(
            session,
            user_id=u.user_id,
            email=u.email,
            first_name=u.first_name,
            last_name=u.last_name,
            version=event.occurred_at,
        )

    handlers.autocommit("users.UserRegistered", UserState)(user)
    handlers.autocommit("users.UserUpdated", UserState)(user)
    handlers.autocommit("users.UserDeactivated", UserState)(user)
    return handlers


def catalog_handlers() -> EventHandlers:
    """catalog.events: product replicas and the stock answers."""
    handlers = EventHandlers()
    _product_replica(handlers)

    @handlers.on("catalog.StockReserved", OrderRef)
    async def stock_reserved(session: AsyncSession, event: Envelope[OrderRef]) -> None:
        await lifecycle.stock_reserved(session, event.payload.order_id)

    @handlers.on("catalog.StockRejected", StockRejected)
    async def stock_rejected(session: AsyncSession, event: Envelope[StockRejected]) -> None:
        await lifecycle.stock_rejected(session, event.payload.order_id, reason=event.payload.reason)

    return handlers


def payments_handlers() -> EventHandlers:
    """payments.events: the money side of the saga."""
    handlers = EventHandlers()

    @handlers.on("payments.PaymentSucceeded", OrderRef)
    async def succeeded(session: AsyncSession, event: Envelope[OrderRef]) -> None:
        # None for an order cancelled meanwhile: payments refunds that on OrderCancelled.
        await lifecycle.payment_succeeded(session, event.payload.order_id)

    @handlers.on("payments.PaymentFailed", OrderRef)
    async def failed(session: AsyncSession, event: Envelope[OrderRef]) -> None:
        await lifecycle.payment_failed(session, event.payload.order_id)

    # The request is payments' own work; a refund follows a cancellation orders already made.
    handlers.ignore("payments.PaymentRequested", "payments.PaymentRefunded")
    return handlers


class OrderChange(BaseModel):
    order_id: int
    previous_status: str | None = None


def reports_handlers() -> EventHandlers:
    """orders.events, group `orders-reports`: keep bestsellers and customer stats current."""
    handlers = EventHandlers()

    @handlers.on("orders.OrderPaid", OrderChange)
    async def paid(session: AsyncSession, event: Envelope[OrderChange]) -> None:
        await reports.count_sale(session, order_id=event.payload.order_id, sign=1)

    @handlers.on("orders.OrderCancelled", OrderChange)
    async def cancelled(session: AsyncSession, event: Envelope[OrderChange]) -> None:
        # Only a paid order was counted; its cancellation is a refund.
        if event.payload.previous_status != "paid":
            return
        await reports.count_sale(session, order_id=event.payload.order_id, sign=-1)

    # Only a payment counts a sale and only a cancellation after it takes one back.
    handlers.ignore(
        "orders.OrderPlaced",
        "orders.OrderAwaitingPayment",
        "orders.OrderPaymentFailed",
        "orders.OrderShipped",
        "orders.OrderCompleted",
    )
    return handlers
