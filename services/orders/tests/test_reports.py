"""Bestsellers and customer stats, kept by the orders-reports consumer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from orders.db.tables import inbox, outbox
from orders.events.handlers import catalog_handlers, payments_handlers, reports_handlers
from shared.events.handlers import EventHandlers
from shared.testing import count_statements, deliver, envelope

Headers = dict[str, str]


async def send(
    app: FastAPI, group: str, handlers: EventHandlers, events: list[dict[str, Any]]
) -> None:
    await deliver(
        events,
        redis=app.state.redis,
        engine=app.state.engine,
        inbox=inbox,
        group=group,
        handlers=handlers,
    )


async def own_events(app: FastAPI) -> list[dict[str, Any]]:
    """What the orders service published, as its relay would put it on the stream."""
    table = outbox.table
    async with app.state.engine.connect() as conn:
        return [
            r.envelope for r in await conn.execute(select(table.c.envelope).order_by(table.c.id))
        ]


async def pay(app: FastAPI, order_id: int) -> None:
    await send(
        app,
        "orders",
        catalog_handlers(),
        [envelope("catalog.StockReserved", {"order_id": order_id}, aggregate_id=order_id)],
    )
    await send(
        app,
        "orders",
        payments_handlers(),
        [envelope("payments.PaymentSucceeded", {"order_id": order_id}, aggregate_id=order_id)],
    )


async def test_reports_follow_paid_and_refunded_orders(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    cheap = await place_order(alice, price="2.50", quantity=4)
    dear = await place_order(bob, price="40.00", quantity=1)
    unpaid = await place_order(bob, price="99.00", quantity=9)
    await pay(app, cheap["id"])
    await pay(app, dear["id"])
    # Every event twice: the inbox keeps the counts exact.
    events = await own_events(app)
    await send(app, "orders-reports", reports_handlers(), events + events)

    best = (await client.get("/api/reports/bestsellers/")).json()
    assert [(b["units_sold"], b["revenue"]) for b in best] == [(4, "10.00"), (1, "40.00")]
    assert unpaid["items"][0]["product_id"] not in [b["product_id"] for b in best]

    stats = (await client.get("/api/reports/customer-stats/", headers=staff)).json()["results"]
    assert [(s["user_id"], s["orders_count"], s["total_spent"]) for s in stats] == [
        (3, 1, "40.00"),
        (2, 1, "10.00"),
    ]

    # Bob cancels his paid order: a refund, so it leaves the reports.
    assert (await client.post(f"/api/orders/{dear['id']}/cancel/", headers=bob)).status_code == 200
    await send(app, "orders-reports", reports_handlers(), await own_events(app))
    best = (await client.get("/api/reports/bestsellers/")).json()
    assert [b["units_sold"] for b in best] == [4]
    stats = (await client.get("/api/reports/customer-stats/", headers=staff)).json()["results"]
    assert [s["user_id"] for s in stats] == [2]


async def test_customer_stats_are_staff_only(client: httpx.AsyncClient, alice: Headers) -> None:
    assert (await client.get("/api/reports/customer-stats/")).status_code == 401
    assert (await client.get("/api/reports/customer-stats/", headers=alice)).status_code == 403
    assert (await client.get("/api/reports/bestsellers/?limit=0")).status_code == 422


async def test_a_sale_is_counted_in_one_statement_whatever_its_lines(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    staff: Headers,
    make_product: Any,
    fill_cart: Any,
) -> None:
    """Every line's product total and the customer's total in one statement that reads
    the order's lines itself (no read of the order first, no statement per line)."""
    cart = await fill_cart(
        alice,
        (await make_product(price="1.00"), 2),
        (await make_product(price="5.00"), 3),
    )
    placed = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)
    await pay(app, placed.json()["id"])
    paid = [e for e in await own_events(app) if e["type"] == "orders.OrderPaid"]
    with count_statements(app.state.engine) as statements:
        await send(app, "orders-reports", reports_handlers(), paid)
    counted = [s for s in statements.statements if "orders.inbox" not in s and s != "SELECT 1"]
    assert len(counted) == 1, counted

    best = (await client.get("/api/reports/bestsellers/")).json()
    assert [(b["units_sold"], b["revenue"]) for b in best] == [(3, "15.00"), (2, "2.00")]
    stats = (await client.get("/api/reports/customer-stats/", headers=staff)).json()["results"]
    assert [(s["orders_count"], s["total_spent"]) for s in stats] == [(1, "17.00")]
