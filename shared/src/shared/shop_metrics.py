"""Business metrics of the shop: one definition per fact, counted once its transaction
has committed (a rolled-back checkout or a redelivered event that changed nothing is
never counted). Labels are small fixed sets: no ids, emails or free text."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import after_commit

ORDERS_PLACED = Counter("shop_orders_placed_total", "Orders placed (submitted for stock).")
ORDERS_PAID = Counter("shop_orders_paid_total", "Orders whose payment succeeded.")
ORDERS_CANCELLED = Counter(
    "shop_orders_cancelled_total",
    "Orders cancelled, by reason (out_of_stock, customer, expired, other).",
    ["reason"],
)
REVENUE = Counter(
    "shop_revenue_total", "Total of the orders paid, in their currency's units.", ["currency"]
)
# From the order's creation (for a cart checkout, the moment it is placed) to paid:
# stock reservation, the customer's payment form and the provider's answer.
CHECKOUT_DURATION = Histogram(
    "shop_checkout_duration_seconds",
    "Time from an order's placement to its payment.",
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
PAYMENTS = Counter(
    "shop_payments_total",
    "Payment attempts finished, by method and outcome (succeeded, declined, failed, cancelled).",
    ["method", "outcome"],
)
REFUNDS = Counter("shop_refunds_total", "Payments refunded (cancelled paid orders).", ["method"])
STOCK_REJECTIONS = Counter(
    "shop_stock_rejections_total", "Orders the catalog could not reserve stock for."
)
CART_ADDS = Counter("shop_cart_adds_total", "Products added to a shopping cart.")
LOGINS = Counter(
    "shop_logins_total", "Login attempts, by outcome (success, failure, locked).", ["outcome"]
)
REFRESH_TOKEN_REUSE = Counter(
    "shop_refresh_token_reuse_total",
    "Spent refresh tokens presented again (their token family is revoked).",
)
PAYMENTS_WAITING_FOR_ORDER = Gauge(
    "shop_payments_waiting_for_order",
    "Payment requests waiting for payments' replica of their order to leave `pending`.",
)
EMAILS = Counter("shop_emails_total", "Emails handed to the mail server, by outcome.", ["outcome"])

# Order cancel reasons as stored (free text) -> the label; anything else is `other`.
CANCEL_REASONS = {
    "out_of_stock": "out_of_stock",
    "cancelled by the customer": "customer",
    "payment window expired": "expired",
}
# Provider decline codes are many: everything but a processing error is a decline.
PAYMENT_FAILURES = {"processing_error": "failed", "order_cancelled": "cancelled"}


def count(session: AsyncSession, counter: Counter, amount: float = 1, **labels: str) -> None:
    """Add `amount` to `counter` once `session` commits."""
    child = counter.labels(**labels) if labels else counter

    async def add() -> None:
        child.inc(amount)

    after_commit(session, add)


def observe(session: AsyncSession, histogram: Histogram, value: float) -> None:
    """Observe `value` in `histogram` once `session` commits."""

    async def add() -> None:
        histogram.observe(value)

    after_commit(session, add)


def cancel_reason(reason: str | None) -> str:
    return CANCEL_REASONS.get(reason or "", "other")


def payment_outcome(failure_reason: str | None) -> str:
    """`succeeded` for None, else the label of a failure reason."""
    if failure_reason is None:
        return "succeeded"
    return PAYMENT_FAILURES.get(failure_reason, "declined")


def revenue(session: AsyncSession, amount: Decimal, currency: str) -> None:
    count(session, REVENUE, float(amount), currency=currency.upper()[:3])
