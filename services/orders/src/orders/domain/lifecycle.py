"""Order status changes: the one writer (`change_status`, and `place_new` for an order
born placed), what users and staff may do, and the saga reactions that event handlers
call.

Every reaction locks the order row and changes it in one statement, and is idempotent:
an order that is not in a status the action applies to (because the event was delivered
twice, or the order moved on) is left alone and the reaction answers None.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from orders.db import orders
from orders.db.tables import Order, outbox
from orders.domain.access import can_read
from orders.domain.status import Action, OrderStatus, next_status, sources, target
from orders.events.announce import announcement
from shared import shop_metrics
from shared.auth import Principal
from shared.errors import Forbidden, NotFound

log = logging.getLogger(__name__)

CANCELLED_BY_CUSTOMER = "cancelled by the customer"
PAYMENT_WINDOW_EXPIRED = "payment window expired"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What one transition did, for whoever announces it (the outbox event)."""

    order: Order
    action: Action
    source: OrderStatus
    target: OrderStatus
    reason: str | None


async def change_status(
    session: AsyncSession, order: Order, *, action: Action, reason: str | None = None
) -> StatusChange:
    """Move a locked order by `action`, or raise `IllegalTransition` (409).

    With `place_new`, the only code that writes `Order.status`, and the event announcing
    the change goes into the outbox in the same transaction.
    """
    source = OrderStatus(order.status)
    target = next_status(source, action)
    order.status = target.value
    if target is OrderStatus.CANCELLED:
        order.cancel_reason = reason
    # The UPDATE's row trigger wakes long-polling readers at commit (shared.watch).
    await session.flush()
    return await _announce(session, order, action=action, source=source, reason=reason)


async def place_new(session: AsyncSession, order: Order) -> StatusChange:
    """Insert a new order (built, not in the session) straight in the status that placing
    a draft gives it: an order from a cart is one INSERT, where a draft placed later takes
    an UPDATE too. No NOTIFY: nobody can be waiting for a change of an order that did not
    exist. The change's order is the one stored."""
    source = OrderStatus.DRAFT
    order.status = next_status(source, Action.PLACE).value
    stored = await orders.insert_new(session, order)
    return await _announce(session, stored, action=Action.PLACE, source=source, reason=None)


async def _announce(
    session: AsyncSession, order: Order, *, action: Action, source: OrderStatus, reason: str | None
) -> StatusChange:
    target = OrderStatus(order.status)
    event = announcement(order, action=action, source=source, reason=reason)
    await outbox.publish(session, event, aggregate_id=order.id)
    _count(session, order, target=target, reason=reason)
    return StatusChange(order=order, action=action, source=source, target=target, reason=reason)


def _count(session: AsyncSession, order: Order, *, target: OrderStatus, reason: str | None) -> None:
    """The business metrics of a transition, counted once it commits."""
    if target is OrderStatus.PENDING:
        shop_metrics.count(session, shop_metrics.ORDERS_PLACED)
    elif target is OrderStatus.PAID:
        shop_metrics.count(session, shop_metrics.ORDERS_PAID)
        shop_metrics.revenue(session, order.total_amount, order.currency)
        waited = (datetime.now(UTC) - order.created_at).total_seconds()
        shop_metrics.observe(session, shop_metrics.CHECKOUT_DURATION, max(waited, 0.0))
    elif target is OrderStatus.CANCELLED:
        label = shop_metrics.cancel_reason(reason)
        shop_metrics.count(session, shop_metrics.ORDERS_CANCELLED, reason=label)


async def read(conn: AsyncConnection, user: Principal, order_id: int) -> Sequence[Row[Any]]:
    """The caller's order (staff: anyone's) as `orders.read` gives it; another's is 404."""
    rows = await orders.read(conn, order_id)
    if not rows or not can_read(user, rows[0].user_id):
        raise NotFound("No such order.")
    return rows


async def _locked(session: AsyncSession, user: Principal, order_id: int) -> Order:
    order = await orders.lock(session, order_id)
    if order is None or not can_read(user, order.user_id):
        raise NotFound("No such order.")
    return order


async def cancel(session: AsyncSession, user: Principal, order_id: int) -> Order:
    """The owner cancels an unpaid order, or a paid one before it ships (then refunded)."""
    order = await _locked(session, user, order_id)
    if order.user_id != user.id:
        raise Forbidden("Only the customer who placed an order may cancel it.")
    await change_status(session, order, action=Action.CANCEL, reason=CANCELLED_BY_CUSTOMER)
    return order


async def ship(session: AsyncSession, order_id: int) -> Order:
    """Staff hand a paid order to the carrier."""
    order = await orders.lock(session, order_id)
    if order is None:
        raise NotFound("No such order.")
    await change_status(session, order, action=Action.SHIP)
    return order


async def complete(session: AsyncSession, order_id: int) -> Order:
    """Staff close a delivered order."""
    order = await orders.lock(session, order_id)
    if order is None:
        raise NotFound("No such order.")
    await change_status(session, order, action=Action.COMPLETE)
    return order


async def _react(
    session: AsyncSession,
    order_id: int,
    action: Action,
    *,
    reason: str | None = None,
    due_by: datetime | None = None,
) -> StatusChange | None:
    """The order's lock and its change in one conditional statement, then its event."""
    goal = target(action)
    found = await orders.transition(
        session,
        order_id,
        sources=tuple(s.value for s in sources(action)),
        target=goal.value,
        reason=reason if goal is OrderStatus.CANCELLED else None,
        due_by=due_by,
    )
    if found is None:
        log.warning("%s for unknown order %s ignored", action.value, order_id)
        return None
    if found.order is None:
        # A redelivery, or the order has moved on (e.g. cancelled before the payment came).
        log.info("%s ignored: order %s is %s", action.value, order_id, found.previous)
        return None
    source = OrderStatus(found.previous)
    return await _announce(session, found.order, action=action, source=source, reason=reason)


async def stock_reserved(session: AsyncSession, order_id: int) -> StatusChange | None:
    """The catalog holds the stock: pending -> awaiting_payment."""
    return await _react(session, order_id, Action.RESERVE_STOCK)


async def stock_rejected(
    session: AsyncSession, order_id: int, *, reason: str
) -> StatusChange | None:
    """The catalog could not hold the stock: pending -> cancelled, with its reason."""
    return await _react(session, order_id, Action.REJECT_STOCK, reason=reason)


async def payment_succeeded(session: AsyncSession, order_id: int) -> StatusChange | None:
    """The money is taken: awaiting_payment (or payment_failed) -> paid.

    None for an order already cancelled: the caller should refund that payment.
    """
    return await _react(session, order_id, Action.PAY)


async def payment_failed(session: AsyncSession, order_id: int) -> StatusChange | None:
    """A payment attempt was declined: awaiting_payment -> payment_failed."""
    return await _react(session, order_id, Action.FAIL_PAYMENT)


async def payment_retried(session: AsyncSession, order_id: int) -> StatusChange | None:
    """A new payment attempt starts: payment_failed -> awaiting_payment."""
    return await _react(session, order_id, Action.RETRY_PAYMENT)


async def expire(
    session: AsyncSession, order_id: int, *, now: datetime | None = None
) -> StatusChange | None:
    """Cancel an order whose payment window has passed unpaid; a no-op before that."""
    return await _react(
        session,
        order_id,
        Action.EXPIRE,
        reason=PAYMENT_WINDOW_EXPIRED,
        due_by=now or datetime.now(UTC),
    )
