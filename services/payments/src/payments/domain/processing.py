"""Charging a requested payment and refunding a cancelled order's payment.

Both run inside the consumer's transaction of the event that asks for them, holding the
payment's row lock; the provider call carries our idempotency key, so a worker that dies
after the provider acted and before the commit repeats the call on redelivery and gets
the first answer back, not a second charge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import orders, payments
from payments.db.tables import Payment, outbox
from payments.events.published import PaymentFailed, PaymentRefunded, PaymentSucceeded
from payments.provider.base import PaymentProvider, TransientProviderError
from shared import shop_metrics

log = logging.getLogger(__name__)
T = TypeVar("T")
PROCESSING_ERROR = "processing_error"
ORDER_CANCELLED = "order_cancelled"


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts at a provider call that fails transiently, with doubling back-off."""

    attempts: int = 3
    backoff_s: float = 0.2

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(1, self.attempts + 1):
            try:
                return await attempt()
            except TransientProviderError:
                if number == self.attempts:
                    raise
                await asyncio.sleep(self.backoff_s * 2 ** (number - 1))
        raise AssertionError("unreachable")  # pragma: no cover


async def process(
    session: AsyncSession, provider: PaymentProvider, retry: RetryPolicy, *, payment_id: int
) -> None:
    """Charge a pending payment and publish its outcome; anything else is a no-op."""
    payment = await payments.lock(session, payment_id)
    if payment is None or payment.status != "pending":
        return
    # Read after the lock: a cancellation handled meanwhile is seen (see refund_order).
    order = await orders.get(session, payment.order_id)
    if order is not None and order.status == "cancelled":
        await _fail(session, payment, ORDER_CANCELLED)
        return
    try:
        result = await retry.call(
            lambda: provider.charge(
                idempotency_key=str(payment.provider_key),
                source_token=payment.source_token,
                amount=payment.amount,
                currency=payment.currency,
            )
        )
    except TransientProviderError:
        # Given up after the retries: the customer learns now and can try again, instead
        # of an order waiting on a provider that may stay down.
        log.warning("payment %s failed: the provider kept erring", payment.id)
        await _fail(session, payment, PROCESSING_ERROR)
        return
    if not result.succeeded:
        await _fail(session, payment, result.decline_code or "card_declined")
        return
    payment.status, payment.charge_id = "succeeded", result.reference
    await outbox.publish(
        session,
        PaymentSucceeded(
            **_outcome_fields(payment),
            card_brand=payment.card_brand,
            card_last4=payment.card_last4,
        ),
        aggregate_id=payment.order_id,
    )
    _count_outcome(session, payment)


async def refund_order(
    session: AsyncSession, provider: PaymentProvider, retry: RetryPolicy, *, order_id: int
) -> Payment | None:
    """Refund the cancelled order's succeeded payment, if it has one.

    Locks the order's pending payment too: one being charged right now is waited for and
    refunded if the charge succeeded; one not yet charged is failed by the processor,
    which reads the order's cancellation after taking the lock.
    """
    payment = await payments.lock_active_for_order(session, order_id)
    if payment is None or payment.status != "succeeded" or payment.charge_id is None:
        return None
    charge_id = payment.charge_id
    # Transient errors that outlast the retries raise: the event is redelivered later,
    # and a refund is owed until it is done.
    refund = await retry.call(
        lambda: provider.refund(
            idempotency_key=str(payment.provider_key),
            charge_reference=charge_id,
            amount=payment.amount,
            currency=payment.currency,
        )
    )
    payment.status, payment.refund_id = "refunded", refund.reference
    await outbox.publish(
        session,
        PaymentRefunded(**_outcome_fields(payment), refund_id=refund.reference),
        aggregate_id=payment.order_id,
    )
    shop_metrics.count(session, shop_metrics.REFUNDS, method=payment.method)
    return payment


async def _fail(session: AsyncSession, payment: Payment, reason: str) -> None:
    payment.status, payment.failure_reason = "failed", reason
    await outbox.publish(
        session,
        PaymentFailed(**_outcome_fields(payment), reason_code=reason),
        aggregate_id=payment.order_id,
    )
    _count_outcome(session, payment)


def _count_outcome(session: AsyncSession, payment: Payment) -> None:
    outcome = shop_metrics.payment_outcome(payment.failure_reason)
    shop_metrics.count(session, shop_metrics.PAYMENTS, method=payment.method, outcome=outcome)


def _outcome_fields(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "user_id": payment.user_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "method": payment.method,
    }
