"""The payloads the projection reads: its own models, only the fields it folds.

The orders events carry the order's state after each change; the payments events are
declared here rather than imported (a service never imports another).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

ORDERS_STREAM = "orders.events"
PAYMENTS_STREAM = "payments.events"


class Archived(BaseModel):
    """Keeps the fields it does not declare: the event archive stores the whole payload."""

    model_config = ConfigDict(extra="allow")


class OrderLineIn(Archived):
    product_id: int
    name: str
    quantity: int
    unit_price: Decimal


class OrderEvent(Archived):
    """Every orders event: the order's state after it."""

    order_id: int
    user_id: int
    status: str
    previous_status: str | None = None
    total_amount: Decimal
    currency: str


class OrderPlacedIn(OrderEvent):
    lines: list[OrderLineIn]


class OrderAwaitingPaymentIn(OrderEvent):
    expires_at: datetime | None = None


class OrderCancelledIn(OrderEvent):
    reason: str


class PaymentEvent(Archived):
    """Every payments event about an order."""

    payment_id: int | str
    order_id: int
    user_id: int
    amount: Decimal
    currency: str
    method: str


class PaymentSucceededIn(PaymentEvent):
    card_brand: str | None = None
    card_last4: str | None = None


class PaymentFailedIn(PaymentEvent):
    reason_code: str | None = None


class PaymentRefundedIn(PaymentEvent):
    refund_id: int | str


# Event type -> the payload model the fold parses it with.
PAYLOADS: dict[str, type[BaseModel]] = {
    "orders.OrderPlaced": OrderPlacedIn,
    "orders.OrderAwaitingPayment": OrderAwaitingPaymentIn,
    "orders.OrderPaymentFailed": OrderEvent,
    "orders.OrderPaid": OrderEvent,
    "orders.OrderCancelled": OrderCancelledIn,
    "orders.OrderShipped": OrderEvent,
    "orders.OrderCompleted": OrderEvent,
    "payments.PaymentSucceeded": PaymentSucceededIn,
    "payments.PaymentFailed": PaymentFailedIn,
    "payments.PaymentRefunded": PaymentRefundedIn,
}
# Published on the streams the projection reads, and not folded: a request is no outcome.
IGNORED = ("payments.PaymentRequested",)
