"""Every event the orders service publishes (stream `orders.events`). The schemas are
the docs: each carries the order's state after the change, so a consumer (payments, the
order-history projection) needs no earlier event to act on it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.events.envelope import EventCatalog, EventPayload

events = EventCatalog("orders")


class OrderState(EventPayload):
    order_id: int
    user_id: int
    status: str = Field(description="The order's status after this event.")
    previous_status: str | None = Field(description="Its status before; null when placed.")
    total_amount: Decimal = Field(description="Decimal string with two places.")
    currency: str


class OrderLine(BaseModel):
    product_id: int
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


@events.declare(version=1)
class OrderPlaced(OrderState):
    """An order was submitted (status `pending`); the catalog reserves its stock."""

    lines: list[OrderLine]
    expires_at: datetime | None = Field(description="When an unpaid order is cancelled.")


@events.declare(version=1)
class OrderAwaitingPayment(OrderState):
    """The stock is held; the order can be paid until `expires_at`."""

    expires_at: datetime | None


@events.declare(version=1)
class OrderPaymentFailed(OrderState):
    """A payment was declined; the order can be paid again (with a new payment)."""


@events.declare(version=1)
class OrderPaid(OrderState):
    """The money is taken; the catalog commits the stock, a confirmation email goes out."""


@events.declare(version=1)
class OrderCancelled(OrderState):
    """The order is cancelled: out of stock, by its owner, or its payment window expired.

    The catalog releases its stock; if `previous_status` is `paid`, payments refunds it.
    """

    reason: str


@events.declare(version=1)
class OrderShipped(OrderState):
    """Staff handed the order to the carrier."""


@events.declare(version=1)
class OrderCompleted(OrderState):
    """The order was delivered and closed."""
