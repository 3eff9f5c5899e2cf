"""Historical orders for load tests, written in bulk (`make load-data ORDERS=N`).

Orders in final states (paid, shipped, completed, cancelled) spread over past months,
over the customers of the user replica and the products of the product replica, with
their lines, the history projection's rows (`order_history.orders_by_user` and the
timeline) exactly as the projector would have folded the events of their lives, and
the report tables' sums. No event is published: this is history, nothing downstream
(payments, mail, catalog stock) must react to it, so the outbox is not touched.
Every run adds `count` more orders with fresh ids.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncEngine

from orders.db import bulk
from orders.domain.lifecycle import CANCELLED_BY_CUSTOMER, PAYMENT_WINDOW_EXPIRED
from orders.history.postgres_store import ROW_COLUMNS as HISTORY_COLUMNS

BATCH = 5000
CANCELLED_SHARE = 0.15
PAYMENT_WINDOW = timedelta(minutes=15)
SHIPPED_AFTER = timedelta(days=1)
COMPLETED_AFTER = timedelta(days=4)


class MissingReplicas(Exception):
    """The replicas the orders are drawn from are empty."""


@dataclass(slots=True)
class _Batch:
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    items: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    timeline: list[tuple[Any, ...]] = field(default_factory=list)
    products: dict[int, tuple[str, int, Decimal]] = field(default_factory=dict)
    customers: dict[int, tuple[int, Decimal]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Event:
    at: datetime
    event_id: UUID
    event_type: str
    status: str | None
    detail: dict[str, str]


def _millis(at: datetime) -> datetime:
    # The projection keeps event times to the millisecond (as Cassandra does).
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


class OrderFactory:
    """Random but plausible orders: a few hot products, a long tail, 1-4 lines each."""

    def __init__(
        self,
        users: Sequence[int],
        products: Sequence[tuple[int, str, Decimal]],
        *,
        months: int,
        currency: str,
        rng: random.Random,
        now: datetime,
    ) -> None:
        self.users = users
        self.products = products
        # Zipf-like popularity: product k is chosen about 1/k as often as the first.
        self.weights = list(accumulate(1 / (k + 1) for k in range(len(products))))
        self.span_s = months * 30 * 86400
        self.currency = currency
        self.rng = rng
        self.now = now

    def add(self, batch: _Batch, order_id: int) -> None:
        rng = self.rng
        user_id = rng.choice(self.users)
        picked = rng.choices(self.products, cum_weights=self.weights, k=rng.randint(1, 4))
        lines = {p[0]: (p, rng.randint(1, 3)) for p in picked}  # one line per product
        total = sum((p[2] * q for p, q in lines.values()), Decimal("0"))
        age = timedelta(seconds=rng.uniform(3600, self.span_s))
        placed = _millis(self.now - age)
        events, status, reason, paid_at = self._life(order_id, placed, age, total, len(lines))
        last = events[-1]
        batch.orders.append(
            (order_id, user_id, status, total, self.currency, reason, None, placed, last.at)
        )
        for (pid, name, price), quantity in lines.values():
            batch.items.append((order_id, pid, name, quantity, price, price * quantity))
            if paid_at is not None:
                _, units, revenue = batch.products.get(pid, (name, 0, Decimal("0")))
                batch.products[pid] = (name, units + quantity, revenue + price * quantity)
        if paid_at is not None:
            count, spent = batch.customers.get(user_id, (0, Decimal("0")))
            batch.customers[user_id] = (count + 1, spent + total)
        last_order = [e for e in events if e.event_type.startswith("orders.")][-1]
        payment = next((e for e in events if e.event_type.startswith("payments.")), None)
        line_json = json.dumps(
            [
                {"product_id": pid, "name": name, "quantity": quantity, "unit_price": str(price)}
                for (pid, name, price), quantity in lines.values()
            ]
        )
        row: dict[str, Any] = {
            "order_id": order_id,
            "user_id": user_id,
            "placed_at": placed,
            "lines": line_json,
            "status": status,
            "total": total,
            "currency": self.currency,
            "order_at": last_order.at,
            "order_event_id": last_order.event_id,
            "payment_outcome": None,
            "payment_method": None,
            "card_brand": None,
            "card_last4": None,
            "payment_at": None,
            "payment_event_id": None,
            "last_event_at": last.at,
        }
        if payment is not None:
            row.update(
                payment_outcome="succeeded",
                payment_method="card",
                card_brand="visa",
                card_last4="4242",
                payment_at=payment.at,
                payment_event_id=payment.event_id,
            )
        batch.history.append(tuple(row[c] for c in HISTORY_COLUMNS))
        batch.timeline.extend(
            (
                order_id,
                e.at,
                e.event_id,
                user_id,
                e.event_type,
                e.status,
                json.dumps(e.detail, sort_keys=True),
            )
            for e in events
        )

    def _life(
        self, order_id: int, placed: datetime, age: timedelta, total: Decimal, n_lines: int
    ) -> tuple[list[_Event], str, str | None, datetime | None]:
        """The events of the order's life (as the projector would fold them), its status,
        cancel reason and payment time."""
        rng = self.rng
        at = placed

        def event(
            event_type: str, status: str | None, detail: dict[str, str], after: timedelta
        ) -> _Event:
            nonlocal at
            at = _millis(at + after)
            return _Event(at, uuid4(), event_type, status, detail)

        events = [
            event(
                "orders.OrderPlaced",
                "pending",
                {"total": str(total), "lines": str(n_lines)},
                timedelta(0),
            ),
        ]
        expires = _millis(placed + timedelta(milliseconds=200) + PAYMENT_WINDOW)
        events.append(
            event(
                "orders.OrderAwaitingPayment",
                "awaiting_payment",
                {"previous_status": "pending", "expires_at": expires.isoformat()},
                timedelta(milliseconds=200),
            )
        )
        if rng.random() < CANCELLED_SHARE:
            expired = rng.random() < 0.5
            reason = PAYMENT_WINDOW_EXPIRED if expired else CANCELLED_BY_CUSTOMER
            wait = PAYMENT_WINDOW if expired else timedelta(seconds=rng.randint(10, 600))
            events.append(
                event(
                    "orders.OrderCancelled",
                    "cancelled",
                    {"previous_status": "awaiting_payment", "reason": reason},
                    wait,
                )
            )
            return events, "cancelled", reason, None
        pay = {
            "payment_id": str(order_id),
            "amount": str(total),
            "currency": self.currency,
            "method": "card",
            "card_brand": "visa",
            "card_last4": "4242",
        }
        events.append(
            event("payments.PaymentSucceeded", None, pay, timedelta(seconds=rng.randint(20, 600)))
        )
        events.append(
            event(
                "orders.OrderPaid",
                "paid",
                {"previous_status": "awaiting_payment"},
                timedelta(milliseconds=150),
            )
        )
        paid_at = at
        status = "paid"
        if age > SHIPPED_AFTER + PAYMENT_WINDOW:
            events.append(
                event("orders.OrderShipped", "shipped", {"previous_status": "paid"}, SHIPPED_AFTER)
            )
            status = "shipped"
        if age > COMPLETED_AFTER + SHIPPED_AFTER + PAYMENT_WINDOW:
            events.append(
                event(
                    "orders.OrderCompleted",
                    "completed",
                    {"previous_status": "shipped"},
                    COMPLETED_AFTER,
                )
            )
            status = "completed"
        return events, status, None, paid_at


async def load_orders(
    engine: AsyncEngine,
    *,
    count: int,
    months: int = 12,
    currency: str = "EUR",
    seed: int | None = None,
) -> int:
    """Write `count` historical orders (batches of BATCH, one transaction each); how many."""
    async with engine.connect() as conn:
        users = await bulk.replica_users(conn)
        products = await bulk.replica_products(conn)
    if not users or not products:
        raise MissingReplicas(
            f"the orders service knows {len(users)} users and {len(products)} active products:"
            " orders are drawn from its user and product replicas, so fill them first"
            " (make seed for products, make load-data USERS=N for customers, with the stack"
            " running so that the orders service receives their events)"
        )
    factory = OrderFactory(
        users,
        products,
        months=months,
        currency=currency,
        rng=random.Random(seed),  # noqa: S311 (test data, not secrets)
        now=datetime.now(UTC),
    )
    written = 0
    while written < count:
        size = min(BATCH, count - written)
        async with engine.begin() as conn:
            batch = _Batch()
            for order_id in await bulk.reserve_order_ids(conn, size):
                factory.add(batch, order_id)
            await bulk.copy_rows(
                conn,
                orders=batch.orders,
                items=batch.items,
                history=batch.history,
                history_columns=HISTORY_COLUMNS,
                timeline=batch.timeline,
            )
            await bulk.add_sales(conn, products=batch.products, customers=batch.customers)
        written += size
    return written
