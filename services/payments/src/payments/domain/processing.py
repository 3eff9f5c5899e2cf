"""Charging a requested payment and refunding a cancelled order's payment.

A charge runs in three steps so that no transaction (and no row lock) is open while the
provider answers: the claim, committed before the call (the payment may now have been
charged); the provider call, with our idempotency key, so a repeated call (a worker that
died waiting, a redelivery) gets the first answer back, not a second charge; and the
outcome, committed under the payment's row lock by whichever delivery gets there first.

A cancellation racing a charge is refunded exactly once: the cancellation's handler
(`refund_order`) and the outcome step both lock the payment row, then read the other
side's state, so whichever commits second sees both the success and the cancellation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments.db import orders, payments
from payments.db.tables import Payment, outbox
from payments.events.published import PaymentFailed, PaymentRefunded, PaymentSucceeded
from payments.provider.base import ChargeResult, PaymentProvider, TransientProviderError
from shared import shop_metrics
from shared.db import commit

log = logging.getLogger(__name__)
T = TypeVar("T")
PROCESSING_ERROR = "processing_error"
ORDER_CANCELLED = "order_cancelled"
Sessions = async_sessionmaker[AsyncSession]


class ProviderTimeout(Exception):
    """The provider did not answer in time. Unlike a transient error, the call may have
    taken effect: only the same call with the same idempotency key can tell, so the
    payment stays pending and its event is redelivered (never failed, never re-keyed)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts at a provider call that fails transiently or answers too late, with
    doubling back-off; every attempt repeats the same call (same idempotency key)."""

    attempts: int = 3
    backoff_s: float = 0.2
    # Each attempt's bound; None waits for ever.
    timeout_s: float | None = None

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(1, self.attempts + 1):
            try:
                return await asyncio.wait_for(attempt(), self.timeout_s)
            except TransientProviderError:
                if number == self.attempts:
                    raise
            except TimeoutError as exc:
                if number == self.attempts:
                    raise ProviderTimeout(f"no answer in {self.timeout_s}s") from exc
            await asyncio.sleep(self.backoff_s * 2 ** (number - 1))
        raise AssertionError("unreachable")  # pragma: no cover


async def charge(
    sessions: Sessions, provider: PaymentProvider, retry: RetryPolicy, *, payment_id: int
) -> None:
    """Charge a pending payment and publish its outcome; anything else is a no-op.

    Idempotent by the payment's status: run it again (a redelivery) and it finishes what
    an earlier run left, without a second charge or a second refund."""
    async with sessions() as session:
        claimed = await _claim(session, provider, retry, payment_id)
        await commit(session)
    if claimed is None:
        return
    try:
        result: ChargeResult | None = await retry.call(
            lambda: provider.charge(
                idempotency_key=str(claimed.provider_key),
                source_token=claimed.source_token,
                amount=claimed.amount,
                currency=claimed.currency,
            )
        )
    except TransientProviderError:
        # Given up after the retries: the customer learns now and can try again, instead
        # of an order waiting on a provider that may stay down.
        log.warning("payment %s failed: the provider kept erring", payment_id)
        result = None
    async with sessions() as session:
        await _record_outcome(session, provider, retry, payment_id, result)
        await commit(session)


async def _claim(
    session: AsyncSession, provider: PaymentProvider, retry: RetryPolicy, payment_id: int
) -> Payment | None:
    """Claim the payment for a provider call; None when there is none to make."""
    payment = await payments.lock(session, payment_id)
    if payment is None:
        return None
    if payment.status not in ("pending", "succeeded"):
        return None
    # Read after the lock: a cancellation handled meanwhile is seen (see refund_order).
    order = await orders.get(session, payment.order_id)
    if payment.status == "succeeded":
        if order is not None and order.status == "cancelled":
            # A cancellation's refund that failed after the charge was recorded: still owed.
            await refund_order(session, provider, retry, order_id=payment.order_id)
        return None
    if order is not None and order.status == "cancelled" and payment.claimed_at is None:
        # Never sent to the provider: nothing was charged, nothing to ask.
        await _fail(session, payment, ORDER_CANCELLED)
        return None
    payment.claimed_at = datetime.now(UTC)
    await payments.save(session, payment, "claimed_at")
    return payment


async def _record_outcome(
    session: AsyncSession,
    provider: PaymentProvider,
    retry: RetryPolicy,
    payment_id: int,
    result: ChargeResult | None,
) -> None:
    payment = await payments.lock(session, payment_id)
    if payment is None or payment.status != "pending":
        return  # another delivery of the same request recorded it first
    if result is None:
        await _fail(session, payment, PROCESSING_ERROR)
        return
    if not result.succeeded:
        await _fail(session, payment, result.decline_code or "card_declined")
        return
    payment.status, payment.charge_id = "succeeded", result.reference
    await payments.save(session, payment, "status", "charge_id")
    await outbox.publish(
        session,
        PaymentSucceeded(
            **_outcome_fields(payment),
            card_brand=payment.card_brand,
            card_last4=payment.card_last4,
        ),
        aggregate_id=payment.order_id,
    )
    order = await orders.get(session, payment.order_id)
    if order is not None and order.status == "cancelled":
        # Cancelled while the provider answered, and its handler found the payment still
        # pending: the refund is ours. Failing here rolls the success back too; the
        # redelivery asks the provider again (same answer) and refunds again (same key).
        await refund_order(session, provider, retry, order_id=payment.order_id)
    _count_outcome(session, payment)


async def refund_order(
    session: AsyncSession, provider: PaymentProvider, retry: RetryPolicy, *, order_id: int
) -> Payment | None:
    """Refund the cancelled order's succeeded payment, if it has one.

    Locks the order's pending payment too, so it runs either before or after the outcome
    step of a charge in flight: a payment still pending is left to the processor, which
    reads the order's cancellation after taking the lock (and fails an unclaimed payment,
    or refunds a claimed one that the provider charged).
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
    await payments.save(session, payment, "status", "refund_id")
    await outbox.publish(
        session,
        PaymentRefunded(**_outcome_fields(payment), refund_id=refund.reference),
        aggregate_id=payment.order_id,
    )
    shop_metrics.count(session, shop_metrics.REFUNDS, method=payment.method)
    return payment


async def _fail(session: AsyncSession, payment: Payment, reason: str) -> None:
    payment.status, payment.failure_reason = "failed", reason
    await payments.save(session, payment, "status", "failure_reason")
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
