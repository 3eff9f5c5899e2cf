"""The order status machine: which action moves an order from which status to which.

Pure Python, so every transition is testable without a database. `next_status` is the
only judge of legality; `orders.domain.lifecycle.change_status` is the only writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from shared.errors import Conflict


class OrderStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_FAILED = "payment_failed"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Action(StrEnum):
    PLACE = "place"
    RESERVE_STOCK = "reserve_stock"
    REJECT_STOCK = "reject_stock"
    PAY = "pay"
    FAIL_PAYMENT = "fail_payment"
    RETRY_PAYMENT = "retry_payment"
    EXPIRE = "expire"
    CANCEL = "cancel"
    SHIP = "ship"
    COMPLETE = "complete"


S = OrderStatus
# action -> {from: to}. Anything not listed is illegal.
TRANSITIONS: Final[Mapping[Action, Mapping[OrderStatus, OrderStatus]]] = {
    Action.PLACE: {S.DRAFT: S.PENDING},
    Action.RESERVE_STOCK: {S.PENDING: S.AWAITING_PAYMENT},
    Action.REJECT_STOCK: {S.PENDING: S.CANCELLED},
    # A retried payment may succeed before its retry was recorded: money taken must
    # never be ignored, so success is accepted after a failure too.
    Action.PAY: {S.AWAITING_PAYMENT: S.PAID, S.PAYMENT_FAILED: S.PAID},
    Action.FAIL_PAYMENT: {S.AWAITING_PAYMENT: S.PAYMENT_FAILED},
    Action.RETRY_PAYMENT: {S.PAYMENT_FAILED: S.AWAITING_PAYMENT},
    # A failed payment that is never retried must still free its stock.
    Action.EXPIRE: {S.AWAITING_PAYMENT: S.CANCELLED, S.PAYMENT_FAILED: S.CANCELLED},
    # A paid order may be cancelled until it ships; a refund follows.
    Action.CANCEL: {
        S.AWAITING_PAYMENT: S.CANCELLED,
        S.PAYMENT_FAILED: S.CANCELLED,
        S.PAID: S.CANCELLED,
    },
    Action.SHIP: {S.PAID: S.SHIPPED},
    Action.COMPLETE: {S.SHIPPED: S.COMPLETED},
}


class IllegalTransition(Conflict):
    """The order's current status does not allow the action: 409, with `current_status`.

    Not `status`: in problem+json that member is the HTTP status code.
    """

    slug = "illegal-transition"

    def __init__(self, current: OrderStatus, action: Action, **extensions: Any) -> None:
        super().__init__(
            f"An order in status {current.value!r} cannot {action.value.replace('_', ' ')}.",
            current_status=current.value,
            action=action.value,
            **extensions,
        )
        self.current = current
        self.action = action


def can(current: OrderStatus, action: Action) -> bool:
    return current in TRANSITIONS[action]


def sources(action: Action) -> tuple[OrderStatus, ...]:
    """The statuses `action` applies to."""
    return tuple(TRANSITIONS[action])


def target(action: Action) -> OrderStatus:
    """Where `action` takes an order from any status it applies to: each action has one
    target, so a conditional update can set it without reading the status first."""
    (only,) = set(TRANSITIONS[action].values())
    return only


def next_status(current: OrderStatus, action: Action) -> OrderStatus:
    """Where `action` takes an order in `current`; `IllegalTransition` if it may not."""
    try:
        return TRANSITIONS[action][current]
    except KeyError:
        raise IllegalTransition(current, action) from None
