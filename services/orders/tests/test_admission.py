"""A replica whose every pooled connection is busy: placements wait a bounded time for one,
then answer 503 problem+json with Retry-After (never a 500), and a retry with the same
Idempotency-Key places the order once the pool has room."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from orders.db.tables import Order
from orders.domain import lifecycle
from orders.settings import OrdersSettings

Headers = dict[str, str]
POOL_SIZE = 2


@pytest.fixture
def settings(settings: OrdersSettings) -> OrdersSettings:
    # A short wait keeps the test fast; the answer does not depend on it, because the
    # test holds every connection until it has the answer.
    return settings.model_copy(update={"db_pool_size": POOL_SIZE, "db_pool_timeout_seconds": 2.0})


async def test_a_full_pool_answers_503_busy_and_the_retry_places_once(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    cart = await fill_cart(alice, (await make_product(price="3.00"), 1))
    headers = {**alice, "Idempotency-Key": "admission-1"}

    async with AsyncExitStack() as held:
        for _ in range(POOL_SIZE):  # every connection of the replica's pool, checked out
            conn = await held.enter_async_context(app.state.engine.connect())
            await conn.execute(text("SELECT 1"))
        refused = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)

    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/problems/busy")
    assert int(refused.headers["Retry-After"]) >= 1
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == 0

    placed = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)

    assert placed.status_code == 201, placed.text
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == 1


def pool_in_use(app: FastAPI) -> int:
    return int(app.state.engine.pool.checkedout())


async def test_long_polls_hold_no_connection_while_they_wait(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    """More long polls than the pool has connections, all waiting: a placement still gets
    a connection, and the polls answer once the order changes."""
    cart = await fill_cart(alice, (await make_product(), 1))
    order = (await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)).json()
    other_cart = await fill_cart(alice, (await make_product(), 1))
    url = f"/api/orders/{order['id']}/?changed_from=pending&wait=25"
    polls = [asyncio.ensure_future(client.get(url, headers=alice)) for _ in range(POOL_SIZE + 2)]
    watch = app.state.status_watch  # each poll registers before its re-read
    # The watcher has no hook to await: look at its state until every poll waits with no
    # connection checked out (a poll that kept its connection never gets there).
    for _ in range(2000):
        if watch.waiting(order["id"]) == len(polls) and not pool_in_use(app):
            break
        await asyncio.sleep(0.01)
    assert not pool_in_use(app), "long polls hold pooled connections while they wait"

    placed = await client.post("/api/orders/", json={"cart_id": other_cart["id"]}, headers=alice)
    async with app.state.sessionmaker.begin() as session:  # the stock answer moves it on
        assert await lifecycle.stock_reserved(session, order["id"]) is not None
    answers = await asyncio.gather(*polls)

    assert placed.status_code == 201
    assert [(a.status_code, a.json()["status"]) for a in answers] == [
        (200, "awaiting_payment")
    ] * len(polls)
