"""The fold: one event in, the writes it causes out. Pure, so every store and the
rebuild share it, and idempotent by construction (the writes depend on the event alone)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from orders.history.events import (
    PAYLOADS,
    OrderAwaitingPaymentIn,
    OrderCancelledIn,
    OrderEvent,
    OrderPlacedIn,
    PaymentEvent,
    PaymentFailedIn,
    PaymentRefundedIn,
    PaymentSucceededIn,
)
from orders.history.model import (
    Fold,
    Line,
    OrderCells,
    PaymentCells,
    Placement,
    TimelineEntry,
)
from shared.events.envelope import Envelope

EVENT_VERSION = 1
# Built once: parametrising a generic model is not free.
_ENVELOPES: dict[str, type[Envelope[Any]]] = {
    event_type: Envelope[payload]  # type: ignore[valid-type]
    for event_type, payload in PAYLOADS.items()
}


def to_millis(at: datetime) -> datetime:
    """Cassandra keeps milliseconds; both stores show and sort by the same value."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def parse(event_type: str, envelope: str | bytes | dict[str, Any]) -> Envelope[Any] | None:
    """The typed event (from JSON, or a decoded JSON object), or None for a type (or
    version) the projection does not fold."""
    model = _ENVELOPES.get(event_type)
    if model is None:
        return None
    if isinstance(envelope, dict):
        event = model.model_validate(envelope)
    else:
        event = model.model_validate_json(envelope)
    return event if event.version == EVENT_VERSION else None


def fold(event: Envelope[Any]) -> Fold:
    """The writes of one orders or payments event."""
    payload: BaseModel = event.payload
    if isinstance(payload, OrderEvent):
        return _fold_order(event, payload)
    if isinstance(payload, PaymentEvent):
        return _fold_payment(event, payload)
    raise TypeError(f"the projection does not fold {event.type}")


def _fold_order(event: Envelope[Any], payload: OrderEvent) -> Fold:
    detail: dict[str, str] = {}
    if payload.previous_status is not None:
        detail["previous_status"] = payload.previous_status
    placement = None
    if isinstance(payload, OrderPlacedIn):
        lines = tuple(
            Line(
                product_id=line.product_id,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in payload.lines
        )
        placement = Placement(placed_at=to_millis(event.occurred_at), lines=lines)
        detail["total"] = str(payload.total_amount)
        detail["lines"] = str(len(lines))
    elif isinstance(payload, OrderAwaitingPaymentIn) and payload.expires_at is not None:
        detail["expires_at"] = payload.expires_at.isoformat()
    elif isinstance(payload, OrderCancelledIn):
        detail["reason"] = payload.reason
    return Fold(
        order_id=payload.order_id,
        user_id=payload.user_id,
        event_id=event.event_id,
        written_at=event.occurred_at,
        entry=_entry(event, status=payload.status, detail=detail),
        placement=placement,
        order=OrderCells(
            status=payload.status, total=payload.total_amount, currency=payload.currency
        ),
    )


def _fold_payment(event: Envelope[Any], payload: PaymentEvent) -> Fold:
    detail = {
        "payment_id": str(payload.payment_id),
        "amount": str(payload.amount),
        "currency": payload.currency,
        "method": payload.method,
    }
    brand = last4 = None
    outcome: Literal["succeeded", "failed", "refunded"]
    if isinstance(payload, PaymentSucceededIn):
        outcome = "succeeded"
        brand, last4 = payload.card_brand, payload.card_last4
        if brand is not None:
            detail["card_brand"] = brand
        if last4 is not None:
            detail["card_last4"] = last4
    elif isinstance(payload, PaymentFailedIn):
        outcome = "failed"
        if payload.reason_code is not None:
            detail["reason_code"] = payload.reason_code
    elif isinstance(payload, PaymentRefundedIn):
        outcome = "refunded"
        detail["refund_id"] = str(payload.refund_id)
    else:
        raise TypeError(f"the projection does not fold {event.type}")
    return Fold(
        order_id=payload.order_id,
        user_id=payload.user_id,
        event_id=event.event_id,
        written_at=event.occurred_at,
        # A payment does not move the order (orders.OrderPaid does): no status after it.
        entry=_entry(event, status=None, detail=detail),
        payment=PaymentCells(
            outcome=outcome, method=payload.method, card_brand=brand, card_last4=last4
        ),
    )


def _entry(event: Envelope[Any], *, status: str | None, detail: dict[str, str]) -> TimelineEntry:
    return TimelineEntry(
        occurred_at=to_millis(event.occurred_at),
        event_id=event.event_id,
        event_type=event.type,
        status=status,
        detail=detail,
    )
