"""Which event announces which status change, and its payload."""

from __future__ import annotations

from typing import Any

from orders.db.tables import Order
from orders.domain.status import Action, OrderStatus
from orders.events.published import (
    OrderAwaitingPayment,
    OrderCancelled,
    OrderCompleted,
    OrderLine,
    OrderPaid,
    OrderPaymentFailed,
    OrderPlaced,
    OrderShipped,
)
from shared.events.envelope import EventPayload

_SIMPLE: dict[Action, type[OrderPaid | OrderPaymentFailed | OrderShipped | OrderCompleted]] = {
    Action.PAY: OrderPaid,
    Action.FAIL_PAYMENT: OrderPaymentFailed,
    Action.SHIP: OrderShipped,
    Action.COMPLETE: OrderCompleted,
}


def announcement(
    order: Order, *, action: Action, source: OrderStatus, reason: str | None
) -> EventPayload:
    """The event for one transition, carrying the order's state after it."""
    state: dict[str, Any] = {
        "order_id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "previous_status": None if action is Action.PLACE else source.value,
        "total_amount": order.total_amount,
        "currency": order.currency,
    }
    if action is Action.PLACE:
        lines = [
            OrderLine(
                product_id=item.product_id,
                name=item.name,
                quantity=item.quantity,
                unit_price=item.unit_price,
                line_total=item.line_total,
            )
            for item in order.items
        ]
        return OrderPlaced(**state, lines=lines, expires_at=order.expires_at)
    if action in (Action.RESERVE_STOCK, Action.RETRY_PAYMENT):
        return OrderAwaitingPayment(**state, expires_at=order.expires_at)
    if action in (Action.REJECT_STOCK, Action.EXPIRE, Action.CANCEL):
        return OrderCancelled(**state, reason=reason or action.value)
    return _SIMPLE[action](**state)
