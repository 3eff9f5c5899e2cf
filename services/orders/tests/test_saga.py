"""The orders side of the checkout saga: events published for every transition, and the
reactions to catalog, payments and users events delivered through a real stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from orders.db.orders import STATUS_CHANNEL
from orders.db.tables import Order, ProductReplica, UserReplica, inbox, outbox
from orders.events.handlers import catalog_handlers, payments_handlers, users_handlers
from orders.expiry import expire_overdue
from shared.events.handlers import EventHandlers
from shared.testing import deliver, envelope
from shared.testing import eventually_async as eventually

Headers = dict[str, str]


async def published(app: FastAPI) -> list[dict[str, Any]]:
    table = outbox.table
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(select(table.c.envelope).order_by(table.c.id))
        return [row.envelope for row in rows]


async def send(app: FastAPI, handlers: EventHandlers, *events: dict[str, Any]) -> None:
    await deliver(
        list(events),
        redis=app.state.redis,
        engine=app.state.engine,
        inbox=inbox,
        group="orders",
        handlers=handlers,
    )


async def status_of(app: FastAPI, order_id: int) -> str:
    async with app.state.engine.connect() as conn:
        return str(
            (await conn.execute(select(Order.status).where(Order.id == order_id))).scalar_one()
        )


async def test_placing_publishes_order_placed_with_lines(
    app: FastAPI, alice: Headers, place_order: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    order = await place_order(alice, price="0.10", quantity=3)
    [event] = await published(app)
    assert event["type"] == "orders.OrderPlaced"
    assert event["aggregate_id"] == str(order["id"])
    payload = event["payload"]
    assert payload["status"] == "pending"
    assert payload["previous_status"] is None
    assert payload["total_amount"] == "0.30"
    assert payload["lines"][0]["quantity"] == 3
    assert payload["lines"][0]["unit_price"] == "0.10"


async def test_stock_and_payment_answers_move_the_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    staff: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    order = await place_order(alice)
    order_id = order["id"]
    reserved = envelope(
        "catalog.StockReserved", {"order_id": order_id, "lines": []}, aggregate_id=order_id
    )
    await send(app, catalog_handlers(), reserved, reserved)  # a duplicate changes nothing
    assert await status_of(app, order_id) == "awaiting_payment"

    failed = envelope(
        "payments.PaymentFailed",
        {"order_id": order_id, "reason_code": "card_declined"},
        aggregate_id=order_id,
    )
    await send(app, payments_handlers(), failed)
    assert await status_of(app, order_id) == "payment_failed"

    paid = envelope("payments.PaymentSucceeded", {"order_id": order_id}, aggregate_id=order_id)
    await send(app, payments_handlers(), paid)
    assert await status_of(app, order_id) == "paid"
    assert (await client.post(f"/api/orders/{order_id}/ship/", headers=staff)).status_code == 200

    types = [e["type"] for e in await published(app)]
    assert types == [
        "orders.OrderPlaced",
        "orders.OrderAwaitingPayment",
        "orders.OrderPaymentFailed",
        "orders.OrderPaid",
        "orders.OrderShipped",
    ]
    transitions = [
        (e["payload"]["previous_status"], e["payload"]["status"]) for e in await published(app)
    ]
    assert transitions[1:] == [
        ("pending", "awaiting_payment"),
        ("awaiting_payment", "payment_failed"),
        ("payment_failed", "paid"),
        ("paid", "shipped"),
    ]


async def test_stock_rejected_cancels_with_the_reason(
    app: FastAPI, alice: Headers, place_order: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    order = await place_order(alice)
    rejected = envelope(
        "catalog.StockRejected",
        {"order_id": order["id"], "reason": "out_of_stock", "short_lines": []},
        aggregate_id=order["id"],
    )
    await send(app, catalog_handlers(), rejected)
    assert await status_of(app, order["id"]) == "cancelled"
    cancelled = (await published(app))[-1]
    assert cancelled["type"] == "orders.OrderCancelled"
    assert cancelled["payload"]["reason"] == "out_of_stock"
    assert cancelled["payload"]["previous_status"] == "pending"


async def test_unpaid_order_expires_and_announces_it(
    app: FastAPI, alice: Headers, place_order: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    order = await place_order(alice)
    order_id = order["id"]
    await send(
        app,
        catalog_handlers(),
        envelope("catalog.StockReserved", {"order_id": order_id}, aggregate_id=order_id),
    )
    assert await expire_overdue(app.state.engine) == 0  # the window is still open
    later = datetime.now(UTC) + timedelta(seconds=app.state.settings.reservation_window_seconds + 1)
    assert await expire_overdue(app.state.engine, now=later) == 1
    assert await expire_overdue(app.state.engine, now=later) == 0
    assert await status_of(app, order_id) == "cancelled"
    cancelled = (await published(app))[-1]
    assert cancelled["type"] == "orders.OrderCancelled"
    assert cancelled["payload"]["reason"] == "payment window expired"


async def test_product_replica_follows_catalog_events_in_any_order(app: FastAPI) -> None:
    t0 = datetime.now(UTC)
    state = {
        "product_id": 77,
        "name": "Dune",
        "price": "9.90",
        "stock_quantity": 3,
        "category_id": 1,
        "active": True,
    }
    created = envelope("catalog.ProductCreated", state, aggregate_id=77, occurred_at=t0)
    updated = envelope(
        "catalog.ProductUpdated",
        {**state, "price": "12.00"},
        aggregate_id=77,
        occurred_at=t0 + timedelta(seconds=1),
    )
    deleted = envelope(
        "catalog.ProductDeleted",
        {"product_id": 77},
        aggregate_id=77,
        occurred_at=t0 + timedelta(seconds=2),
    )
    # Newest first: the older events must not undo the newer ones.
    await send(app, catalog_handlers(), deleted, updated, created)
    async with app.state.engine.connect() as conn:
        replica = (
            await conn.execute(select(ProductReplica).where(ProductReplica.product_id == 77))
        ).one()
    assert replica.active is False

    await send(
        app,
        catalog_handlers(),
        envelope("catalog.ProductCreated", {**state, "product_id": 78}, aggregate_id=78),
    )
    async with app.state.engine.connect() as conn:
        fresh = (
            await conn.execute(
                select(ProductReplica.price, ProductReplica.active).where(
                    ProductReplica.product_id == 78
                )
            )
        ).one()
    assert fresh == (Decimal("9.90"), True)


async def test_user_replica_follows_users_events(app: FastAPI) -> None:
    user = {
        "user_id": 5,
        "email": "ann@example.com",
        "username": "ann",
        "first_name": "Ann",
        "last_name": "Lee",
        "is_active": True,
        "is_staff": False,
    }
    await send(app, users_handlers(), envelope("users.UserRegistered", user, aggregate_id=5))
    async with app.state.engine.connect() as conn:
        replica = (await conn.execute(select(UserReplica.email, UserReplica.first_name))).one()
    assert replica == ("ann@example.com", "Ann")


async def test_long_poll_answers_when_the_order_leaves_pending(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    order = await place_order(alice)
    url = f"/api/orders/{order['id']}/?changed_from=pending&wait=25"
    poll = asyncio.create_task(client.get(url, headers=alice))
    reserved = envelope(
        "catalog.StockReserved", {"order_id": order["id"]}, aggregate_id=order["id"]
    )
    await send(app, catalog_handlers(), reserved)
    # Woken by the commit's NOTIFY, long before its 30 s would run out.
    response = await asyncio.wait_for(poll, 20)
    assert response.status_code == 200
    assert response.json()["status"] == "awaiting_payment"


async def test_long_poll_woken_without_a_change_keeps_waiting(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """A wake is not a change: the placement's own NOTIFY can reach the replica after the
    poll's first read (and another schema's order of the same id notifies the same
    channel). The poll answers only once the status left `pending`."""
    order = await place_order(alice)
    url = f"/api/orders/{order['id']}/?changed_from=pending&wait=25"
    poll = asyncio.create_task(client.get(url, headers=alice))
    watch = app.state.status_watch

    async def watched() -> bool:
        return watch.waiting(order["id"]) > 0

    await eventually(watched, what="the poll watching the order")
    async with app.state.engine.begin() as conn:  # a notification of no change
        await conn.execute(select(func.pg_notify(STATUS_CHANNEL, str(order["id"]))))
    reserved = envelope(
        "catalog.StockReserved", {"order_id": order["id"]}, aggregate_id=order["id"]
    )
    await send(app, catalog_handlers(), reserved)
    response = await asyncio.wait_for(poll, 20)
    assert response.status_code == 200
    assert response.json()["status"] == "awaiting_payment"


async def test_long_poll_gives_the_current_state_when_time_runs_out(
    client: httpx.AsyncClient, alice: Headers, place_order: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    order = await place_order(alice)
    response = await client.get(
        f"/api/orders/{order['id']}/?changed_from=pending&wait=0.2", headers=alice
    )
    assert response.json()["status"] == "pending"
    done = await client.get(f"/api/orders/{order['id']}/?changed_from=draft&wait=25", headers=alice)
    assert done.json()["status"] == "pending"  # not in `draft`: answered at once
    bad = await client.get(
        f"/api/orders/{order['id']}/?changed_from=pending&wait=31", headers=alice
    )
    assert bad.status_code == 422
