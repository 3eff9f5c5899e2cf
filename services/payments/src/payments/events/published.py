"""Every event the payments service publishes (stream `payments.events`). The schemas are
the docs. The aggregate id of each is the order id, so a consumer sees one order's
payment events in order."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from shared.events.envelope import EventCatalog, EventPayload

events = EventCatalog("payments")
Method = Literal["card", "paypal", "bank_transfer"]


@events.declare(version=1)
class PaymentRequested(EventPayload):
    """A payment was accepted for processing; the payments processor charges it."""

    payment_id: int
    order_id: int


class PaymentOutcome(EventPayload):
    payment_id: int
    order_id: int
    user_id: int
    amount: Decimal = Field(description="Decimal string with two places.")
    currency: str
    method: Method


@events.declare(version=1)
class PaymentSucceeded(PaymentOutcome):
    """The money is taken; the order is paid."""

    card_brand: str | None = Field(description="For cards: visa, mastercard, amex, ...")
    card_last4: str | None


@events.declare(version=1)
class PaymentFailed(PaymentOutcome):
    """The payment was declined or could not be processed; the order can be paid again."""

    reason_code: str = Field(
        description="card_declined, insufficient_funds, expired_card, incorrect_cvc, "
        "payment_declined, bank_account_declined, processing_error or order_cancelled."
    )


@events.declare(version=1)
class PaymentRefunded(PaymentOutcome):
    """A succeeded payment was given back (its order was cancelled)."""

    refund_id: str
