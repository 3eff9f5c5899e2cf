"""Accepting a payment request: idempotency, the order's state, tokenization.

Idempotency is `shared.idempotency`'s (Stripe's semantics): a key belongs to one user
for `ttl`; the same key with the same body answers with the stored response and does
nothing else; with another body it is refused (422); while the first request with a key
is still running, another one with that key gets 409 at once. Only accepted payments are
stored: a refused request (404, 409, 422) leaves no record, so it can be retried with
the same key once the order is payable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from payments.db import idempotency, orders, payments
from payments.db.tables import OrderReplica, Payment, outbox
from payments.events.published import PaymentRequested
from payments.provider.base import (
    BankAccount,
    CardDetails,
    PaymentDetails,
    PaymentProvider,
    PayPalAccount,
)
from shared import idempotency as idempotent
from shared import shop_metrics
from shared.auth import Principal
from shared.errors import Conflict, NotFound, Unprocessable
from shared.idempotency import Answer
from shared.watch import RowWatch

PAYABLE = ("awaiting_payment", "payment_failed")
PAID = ("paid", "shipped", "completed")
ACCEPTED = 202

# A second request with a key that is still being served is refused at once (409).
IN_FLIGHT_WAIT_SECONDS = 0.0
# How often a payment waiting for its order reads the replica where LISTEN is unavailable.
POLL_SECONDS = 0.05


def method_of(details: PaymentDetails) -> str:
    if isinstance(details, CardDetails):
        return "card"
    if isinstance(details, PayPalAccount):
        return "paypal"
    assert isinstance(details, BankAccount)
    return "bank_transfer"


async def request_payment(
    session: AsyncSession,
    provider: PaymentProvider,
    user: Principal,
    *,
    order_id: int,
    amount: Decimal | None,
    details: PaymentDetails,
    key: str,
    request_hash: str,
    ttl: timedelta,
    render: Callable[[Payment], dict[str, Any]],
    replica_reads: AsyncEngine,
    order_watch: RowWatch,
    order_wait: float = 0.0,
) -> Answer:
    """Create a pending payment of the caller's order and ask the processor to charge it.

    The order's replica is read (and waited for, woken by `order_watch`) before the
    request's transaction begins, on `replica_reads` (an engine in autocommit): a request
    waiting for the order's event holds no pooled connection, so a burst of early
    payments cannot take the pool from every other request (docs/checkout.md, "A ninth
    machine"). Read outside the transaction, the replica is as current as a read inside
    it was: it is never locked, and the processor reads the order again before it
    charges."""
    order = await _order_caught_up(
        replica_reads, order_watch, order_id, user_id=user.id, wait=order_wait
    )

    async def handle() -> tuple[int, dict[str, Any]]:
        payment = await _accept(
            session,
            provider,
            user,
            order=order,
            order_id=order_id,
            amount=amount,
            details=details,
        )
        return ACCEPTED, render(payment)

    return await idempotent.run(
        session,
        idempotency.RECORDS,
        scope=idempotency.SCOPE,
        user_id=user.id,
        key=key,
        request_hash=request_hash,
        ttl=ttl,
        wait_seconds=IN_FLIGHT_WAIT_SECONDS,
        handle=handle,
    )


async def _accept(
    session: AsyncSession,
    provider: PaymentProvider,
    user: Principal,
    *,
    order: OrderReplica | None,
    order_id: int,
    amount: Decimal | None,
    details: PaymentDetails,
) -> Payment:
    if order is None or order.user_id != user.id:
        raise NotFound("No such order awaiting payment.")
    _refuse_unpayable(order.status)
    if amount is not None and amount != order.total_amount:
        raise Unprocessable(
            f"The amount must be the order's total, {order.total_amount}.",
            loc=("body", "amount"),
            code="amount_mismatch",
        )
    source = await provider.tokenize(details)
    payment = await payments.insert_pending(
        session,
        order_id=order_id,
        user_id=user.id,
        amount=order.total_amount,
        currency=order.currency,
        method=method_of(details),
        source_token=source.token,
        card_brand=source.card_brand,
        card_last4=source.card_last4,
        card_exp_month=source.card_exp_month,
        card_exp_year=source.card_exp_year,
    )
    if payment is None:
        # The partial unique index: the order has a pending or a succeeded payment (the
        # replica may not know yet that it is paid). Asked only now, so an accepted
        # payment costs no statement for it.
        active = await payments.active_for_order(session, order_id)
        if active is not None and active.status == "succeeded":
            raise Conflict("This order is already paid.", code="order_already_paid")
        raise Conflict("A payment of this order is being processed.", code="payment_in_progress")
    await outbox.publish(
        session, PaymentRequested(payment_id=payment.id, order_id=order_id), aggregate_id=order_id
    )
    return payment


async def _order_caught_up(
    reads: AsyncEngine,
    watch: RowWatch,
    order_id: int,
    *,
    user_id: int,
    wait: float,
) -> OrderReplica | None:
    """The caller's order as payments' replica has it, once past `pending`.

    The buyer may see `awaiting_payment` at the orders service before the order's events
    reach us, so an order still `pending` here, or not known here yet, is waited for, up
    to `wait` seconds. Someone else's order counts as unknown (None) and is waited for
    alike: a 404 that came sooner for it than for an unknown id would tell a stranger
    which orders exist. Each read is a connection of its own (no pooled connection is held
    while waiting), and the row is read again only when its NOTIFY says it changed (every
    50 ms where LISTEN is unavailable), so a wait for an id that never comes costs no
    reads."""
    deadline = asyncio.get_running_loop().time() + wait
    async with watch.watching(order_id) as changed:
        order = await _read_own(reads, order_id, user_id=user_id)
        if _past_pending(order) or wait <= 0:
            return order
        with shop_metrics.PAYMENTS_WAITING_FOR_ORDER.track_inprogress():
            while not _past_pending(order) and await _changed_before(changed, deadline):
                order = await _read_own(reads, order_id, user_id=user_id)
    return order


def _past_pending(order: OrderReplica | None) -> bool:
    return order is not None and order.status != "pending"


async def _changed_before(changed: asyncio.Event | None, deadline: float) -> bool:
    """Wait for the row's NOTIFY (or one poll interval, without LISTEN); False once the
    deadline passed. Cleared on return, so a change committed after the next read wakes
    the wait again."""
    loop = asyncio.get_running_loop()
    if loop.time() >= deadline:
        return False
    if changed is None:
        await asyncio.sleep(min(POLL_SECONDS, deadline - loop.time()))
        return True
    try:
        async with asyncio.timeout_at(deadline):
            await changed.wait()
    except TimeoutError:
        return False
    changed.clear()
    return True


async def _read_own(reads: AsyncEngine, order_id: int, *, user_id: int) -> OrderReplica | None:
    async with reads.connect() as conn:
        order = await orders.get(conn, order_id)
    return order if order is not None and order.user_id == user_id else None


def _refuse_unpayable(status: str) -> None:
    if status in PAID:
        raise Conflict("This order is already paid.", code="order_already_paid")
    if status not in PAYABLE:
        raise Conflict(
            f"This order is not awaiting payment (it is {status}).", code="order_not_payable"
        )
