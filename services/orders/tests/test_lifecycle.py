"""Order lifecycle through the saga reactions (as event handlers will call them) and the
HTTP actions: every transition, idempotent reactions, 409 naming the current status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orders.db import orders as orders_repo
from orders.domain import lifecycle
from orders.domain.lifecycle import StatusChange
from orders.domain.status import Action, OrderStatus
from shared.testing import count_statements, eventually_async, waiting_on_a_lock

Headers = dict[str, str]
React = Callable[..., Awaitable[StatusChange | None]]


@pytest.fixture
def react(app: FastAPI) -> React:
    """Run one saga reaction in its own transaction, as a consumer does."""

    async def run(reaction: Callable[..., Awaitable[StatusChange | None]], *args: Any, **kw: Any):
        async with app.state.sessionmaker.begin() as session:
            return await reaction(session, *args, **kw)

    return run


async def status_of(client: httpx.AsyncClient, headers: Headers, order_id: int) -> str:
    response = await client.get(f"/api/orders/{order_id}/", headers=headers)
    assert response.status_code == 200
    status: str = response.json()["status"]
    return status


async def test_happy_path_to_completed(
    client: httpx.AsyncClient, alice: Headers, staff: Headers, place_order: Any, react: React
) -> None:
    order = await place_order(alice)
    oid = order["id"]
    assert order["status"] == "pending"

    change = await react(lifecycle.stock_reserved, oid)
    assert change is not None
    assert (change.source, change.target, change.action) == (
        OrderStatus.PENDING,
        OrderStatus.AWAITING_PAYMENT,
        Action.RESERVE_STOCK,
    )
    assert await status_of(client, alice, oid) == "awaiting_payment"

    assert await react(lifecycle.payment_succeeded, oid) is not None
    assert await status_of(client, alice, oid) == "paid"

    shipped = await client.post(f"/api/orders/{oid}/ship/", headers=staff)
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"
    completed = await client.post(f"/api/orders/{oid}/complete", headers=staff)
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"


async def test_reactions_are_idempotent(
    client: httpx.AsyncClient, alice: Headers, place_order: Any, react: React
) -> None:
    oid = (await place_order(alice))["id"]
    assert await react(lifecycle.stock_reserved, oid) is not None
    assert await react(lifecycle.stock_reserved, oid) is None  # redelivered
    assert await react(lifecycle.stock_rejected, oid, reason="late") is None  # moved on
    assert await react(lifecycle.payment_succeeded, oid) is not None
    assert await react(lifecycle.payment_succeeded, oid) is None
    assert await react(lifecycle.payment_failed, oid) is None  # already paid
    assert await react(lifecycle.stock_reserved, oid) is None  # far past that
    assert await react(lifecycle.expire, oid, now=datetime.now(UTC) + timedelta(days=1)) is None
    assert await status_of(client, alice, oid) == "paid"


async def test_unknown_order_is_ignored(react: React) -> None:
    assert await react(lifecycle.stock_reserved, 987654) is None


async def test_stock_rejected_cancels_with_reason(
    client: httpx.AsyncClient, alice: Headers, place_order: Any, react: React
) -> None:
    oid = (await place_order(alice))["id"]
    change = await react(lifecycle.stock_rejected, oid, reason="out of stock: product 7")
    assert change is not None
    assert change.target is OrderStatus.CANCELLED
    order = (await client.get(f"/api/orders/{oid}/", headers=alice)).json()
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "out of stock: product 7")
    assert await react(lifecycle.stock_rejected, oid, reason="again") is None
    assert await react(lifecycle.stock_reserved, oid) is None


async def test_payment_failure_and_retry(
    client: httpx.AsyncClient, alice: Headers, place_order: Any, react: React
) -> None:
    oid = (await place_order(alice))["id"]
    await react(lifecycle.stock_reserved, oid)
    assert await react(lifecycle.payment_failed, oid) is not None
    assert await status_of(client, alice, oid) == "payment_failed"
    assert await react(lifecycle.payment_failed, oid) is None
    assert await react(lifecycle.payment_retried, oid) is not None
    assert await status_of(client, alice, oid) == "awaiting_payment"
    assert await react(lifecycle.payment_retried, oid) is None
    await react(lifecycle.payment_failed, oid)
    # A success may overtake its retry: the money is never ignored.
    assert await react(lifecycle.payment_succeeded, oid) is not None
    assert await status_of(client, alice, oid) == "paid"


@pytest.mark.parametrize("failed_first", [False, True])
async def test_expiry_cancels_only_after_the_window(
    client: httpx.AsyncClient,
    alice: Headers,
    place_order: Any,
    react: React,
    failed_first: bool,
) -> None:
    order = await place_order(alice)
    oid, deadline = order["id"], datetime.fromisoformat(order["expires_at"])
    await react(lifecycle.stock_reserved, oid)
    if failed_first:
        await react(lifecycle.payment_failed, oid)

    assert await react(lifecycle.expire, oid, now=deadline - timedelta(seconds=1)) is None
    assert await react(lifecycle.expire, oid, now=deadline) is not None
    expired = (await client.get(f"/api/orders/{oid}/", headers=alice)).json()
    assert (expired["status"], expired["cancel_reason"]) == ("cancelled", "payment window expired")
    assert await react(lifecycle.expire, oid, now=deadline) is None
    assert await react(lifecycle.payment_succeeded, oid) is None  # too late: refund it


async def test_pending_orders_do_not_expire(
    alice: Headers, place_order: Any, react: React, client: httpx.AsyncClient
) -> None:
    oid = (await place_order(alice))["id"]
    assert await react(lifecycle.expire, oid, now=datetime.now(UTC) + timedelta(days=1)) is None
    assert await status_of(client, alice, oid) == "pending"


@pytest.mark.parametrize("stage", ["awaiting_payment", "payment_failed", "paid"])
async def test_owner_cancels(
    client: httpx.AsyncClient, alice: Headers, place_order: Any, react: React, stage: str
) -> None:
    oid = (await place_order(alice))["id"]
    await react(lifecycle.stock_reserved, oid)
    if stage == "payment_failed":
        await react(lifecycle.payment_failed, oid)
    if stage == "paid":
        await react(lifecycle.payment_succeeded, oid)

    response = await client.post(f"/api/orders/{oid}/cancel/", headers=alice)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "cancelled by the customer"
    again = await client.post(f"/api/orders/{oid}/cancel/", headers=alice)
    assert again.status_code == 409
    assert again.json()["current_status"] == "cancelled"


@pytest.mark.parametrize("stage", ["pending", "shipped", "completed"])
async def test_cancel_is_refused_when_not_allowed(
    client: httpx.AsyncClient,
    alice: Headers,
    staff: Headers,
    place_order: Any,
    react: React,
    stage: str,
) -> None:
    oid = (await place_order(alice))["id"]
    if stage != "pending":
        await react(lifecycle.stock_reserved, oid)
        await react(lifecycle.payment_succeeded, oid)
        await client.post(f"/api/orders/{oid}/ship/", headers=staff)
    if stage == "completed":
        await client.post(f"/api/orders/{oid}/complete/", headers=staff)

    response = await client.post(f"/api/orders/{oid}/cancel/", headers=alice)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 409
    assert problem["current_status"] == stage
    assert problem["type"] == "/problems/illegal-transition"
    assert await status_of(client, alice, oid) == stage


async def test_ship_and_complete_need_the_right_status(
    client: httpx.AsyncClient, alice: Headers, staff: Headers, place_order: Any, react: React
) -> None:
    oid = (await place_order(alice))["id"]
    early = await client.post(f"/api/orders/{oid}/ship/", headers=staff)
    assert (early.status_code, early.json()["current_status"]) == (409, "pending")
    await react(lifecycle.stock_reserved, oid)
    not_shipped = await client.post(f"/api/orders/{oid}/complete/", headers=staff)
    assert (not_shipped.status_code, not_shipped.json()["current_status"]) == (
        409,
        "awaiting_payment",
    )


async def test_only_staff_ship_and_complete(
    client: httpx.AsyncClient, alice: Headers, place_order: Any, react: React
) -> None:
    oid = (await place_order(alice))["id"]
    await react(lifecycle.stock_reserved, oid)
    await react(lifecycle.payment_succeeded, oid)
    assert (await client.post(f"/api/orders/{oid}/ship/", headers=alice)).status_code == 403
    assert (await client.post(f"/api/orders/{oid}/complete/", headers=alice)).status_code == 403
    assert (await client.post(f"/api/orders/{oid}/ship/")).status_code == 401
    assert await status_of(client, alice, oid) == "paid"


async def test_actions_on_unknown_or_foreign_orders(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    place_order: Any,
    react: React,
) -> None:
    oid = (await place_order(alice))["id"]
    await react(lifecycle.stock_reserved, oid)
    assert (await client.post(f"/api/orders/{oid}/cancel/", headers=bob)).status_code == 404
    # Staff see the order, but only its customer cancels it.
    assert (await client.post(f"/api/orders/{oid}/cancel/", headers=staff)).status_code == 403
    assert (await client.post("/api/orders/987654/ship/", headers=staff)).status_code == 404
    assert (await client.post("/api/orders/987654/cancel/", headers=alice)).status_code == 404
    assert await status_of(client, alice, oid) == "awaiting_payment"


async def test_overdue_orders_are_found_for_the_sweep(
    app: FastAPI, alice: Headers, place_order: Any, react: React
) -> None:
    waiting = (await place_order(alice))["id"]
    failed = (await place_order(alice))["id"]
    pending = (await place_order(alice))["id"]
    paid = (await place_order(alice))["id"]
    for oid in (waiting, failed, paid):
        await react(lifecycle.stock_reserved, oid)
    await react(lifecycle.payment_failed, failed)
    await react(lifecycle.payment_succeeded, paid)

    later = datetime.now(UTC) + timedelta(hours=1)
    async with app.state.sessionmaker() as session:
        assert await orders_repo.expired_ids(session, now=datetime.now(UTC)) == []
        assert sorted(await orders_repo.expired_ids(session, now=later)) == [waiting, failed]
    for oid in (waiting, failed, pending, paid):
        await react(lifecycle.expire, oid, now=later)
    async with app.state.sessionmaker() as session:
        assert await orders_repo.expired_ids(session, now=later) == []


async def test_a_saga_reaction_runs_two_statements(
    alice: Headers, place_order: Any, react: React, app: FastAPI
) -> None:
    """Each reaction is a worker's cost per event: the order's lock and its conditional
    update in one statement (its lines are not read: no reaction's event carries them),
    then its event. The long polls' NOTIFY comes from the update's trigger
    (test_status_notify.py)."""
    order = await place_order(alice)
    with count_statements(app.state.engine) as counter:
        assert await react(lifecycle.stock_reserved, order["id"]) is not None
    assert counter.count == 2, counter.statements


async def test_a_reaction_that_waited_for_the_lock_sees_the_change_it_waited_for(
    alice: Headers, place_order: Any, react: React, app: FastAPI
) -> None:
    """The payment's answer arrives while the stock's answer holds the order: once the
    lock is free, the payment sees `awaiting_payment` (the change it waited for), not the
    `pending` of the moment its statement began, and the order is paid."""
    order = await place_order(alice)
    async with app.state.sessionmaker() as first, first.begin():
        assert await lifecycle.stock_reserved(first, order["id"]) is not None
        paying = asyncio.create_task(react(lifecycle.payment_succeeded, order["id"]))

        await eventually_async(
            lambda: waiting_on_a_lock(app.state.engine), what="the payment to wait for the lock"
        )
    change = await paying
    assert change is not None
    assert (change.source, change.target) == (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAID)
    async with app.state.engine.connect() as conn:
        assert (await orders_repo.read(conn, order["id"]))[0].status == "paid"
