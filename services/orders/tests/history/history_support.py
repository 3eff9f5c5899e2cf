"""Events as they arrive on the streams, and a snapshot of everything a store answers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history.model import OrderSummary, PageKey, Timeline
from orders.history.projector import fold, parse
from orders.history.store import HistoryStore
from shared.events.envelope import Envelope

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def envelope(
    event_type: str, payload: dict[str, Any], *, at: datetime, event_id: UUID | None = None
) -> dict[str, Any]:
    """The wire form of an event (what the relay puts on a stream)."""
    producer = event_type.split(".", 1)[0]
    return {
        "event_id": str(event_id or uuid4()),
        "type": event_type,
        "version": 1,
        "occurred_at": at.isoformat(),
        "producer": producer,
        "correlation_id": None,
        "aggregate_id": str(payload["order_id"]),
        "payload": payload,
    }


def order_story(
    order_id: int, user_id: int, *, start: datetime = T0, outcome: str = "completed"
) -> list[dict[str, Any]]:
    """Every event of one order's life, oldest first; outcome: completed, cancelled, refunded."""
    total = Decimal(order_id % 97) + Decimal("10.50")
    state = {
        "order_id": order_id,
        "user_id": user_id,
        "total_amount": str(total),
        "currency": "EUR",
    }
    lines = [
        {
            "product_id": 7,
            "name": "Lamp",
            "quantity": 1,
            "unit_price": "10.50",
            "line_total": "10.50",
        },
        {
            "product_id": 9,
            "name": "Bulb",
            "quantity": order_id % 97,
            "unit_price": "1.00",
            "line_total": f"{order_id % 97}.00",
        },
    ]
    pay = {
        "payment_id": order_id * 10,
        "order_id": order_id,
        "user_id": user_id,
        "amount": str(total),
        "currency": "EUR",
        "method": "card",
    }
    clock = iter(start + timedelta(milliseconds=250 * i) for i in range(100))
    events = [
        envelope(
            "orders.OrderPlaced",
            {
                **state,
                "status": "pending",
                "previous_status": None,
                "lines": lines,
                "expires_at": None,
            },
            at=next(clock),
        ),
        envelope(
            "orders.OrderAwaitingPayment",
            {
                **state,
                "status": "awaiting_payment",
                "previous_status": "pending",
                "expires_at": None,
            },
            at=next(clock),
        ),
        envelope("payments.PaymentFailed", {**pay, "reason_code": "card_declined"}, at=next(clock)),
        envelope(
            "orders.OrderPaymentFailed",
            {**state, "status": "payment_failed", "previous_status": "awaiting_payment"},
            at=next(clock),
        ),
        envelope(
            "payments.PaymentSucceeded",
            {**pay, "payment_id": order_id * 10 + 1, "card_brand": "visa", "card_last4": "4242"},
            at=next(clock),
        ),
        envelope(
            "orders.OrderPaid",
            {**state, "status": "paid", "previous_status": "payment_failed"},
            at=next(clock),
        ),
    ]
    if outcome == "completed":
        events += [
            envelope(
                "orders.OrderShipped",
                {**state, "status": "shipped", "previous_status": "paid"},
                at=next(clock),
            ),
            envelope(
                "orders.OrderCompleted",
                {**state, "status": "completed", "previous_status": "shipped"},
                at=next(clock),
            ),
        ]
    else:
        events.append(
            envelope(
                "orders.OrderCancelled",
                {**state, "status": "cancelled", "previous_status": "paid", "reason": "customer"},
                at=next(clock),
            )
        )
        if outcome == "refunded":
            events.append(
                envelope(
                    "payments.PaymentRefunded",
                    {**pay, "payment_id": order_id * 10 + 1, "refund_id": order_id},
                    at=next(clock),
                )
            )
    return events


def typed(raw: dict[str, Any]) -> Envelope[Any]:
    event = parse(raw["type"], raw)
    assert event is not None
    return event


def shuffled(items: Sequence[Any], seed: int) -> list[Any]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out


async def apply(store: HistoryStore, engine: AsyncEngine, raws: Sequence[dict[str, Any]]) -> None:
    """Fold wire events into the store in one transaction, in the given order."""
    async with AsyncSession(engine) as session, session.begin():
        await store.apply(session, [fold(typed(raw)) for raw in raws])


async def all_orders(store: HistoryStore, user_id: int, *, limit: int = 7) -> list[OrderSummary]:
    """A user's whole list, walked page by page."""
    out: list[OrderSummary] = []
    page = await store.list_orders(user_id, limit=limit)
    out += page.orders
    while page.has_more:
        last = out[-1]
        page = await store.list_orders(
            user_id, limit=limit, after=PageKey(last.placed_at, last.order_id)
        )
        out += page.orders
    return out


async def snapshot(
    store: HistoryStore, user_ids: Sequence[int], order_ids: Sequence[int]
) -> tuple[dict[int, list[OrderSummary]], dict[int, Timeline | None]]:
    """Everything the read side can see of these users and orders."""
    lists = {user_id: await all_orders(store, user_id) for user_id in user_ids}
    timelines = {order_id: await store.timeline(order_id) for order_id in order_ids}
    return lists, timelines
