"""A placement spends one time budget on its wait for a pooled connection and its
statements: with every connection taken it answers 503 busy once the budget is spent,
not after the pool's own (much longer) wait, so it answers before nginx's 30 s, and it
leaves nothing behind: the same request with the same key then places the order."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from orders.db.tables import CartItem, Order
from orders.settings import OrdersSettings

Headers = dict[str, str]
POOL_SIZE = 2
POOL_WAIT_S = 120.0  # far beyond the budget: only the placement's own budget can end it
BUDGET_S = 1.0


@pytest.fixture
def settings(settings: OrdersSettings) -> OrdersSettings:
    return settings.model_copy(
        update={
            "db_pool_size": POOL_SIZE,
            "db_pool_timeout_seconds": POOL_WAIT_S,
            "placement_budget_seconds": BUDGET_S,
        }
    )


async def _with_every_connection_taken(app: FastAPI, request: Any) -> httpx.Response:
    async with AsyncExitStack() as held:
        for _ in range(POOL_SIZE):  # every connection of the replica's pool, checked out
            conn = await held.enter_async_context(app.state.engine.connect())
            await conn.execute(text("SELECT 1"))
        # Bounded far below the pool's wait: a placement that waited for the pool fails here.
        response: httpx.Response = await asyncio.wait_for(request(), POOL_WAIT_S / 4)
        return response


def _is_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/problems/busy")
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_checkout_with_no_connection_free_answers_busy_when_its_budget_ends(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    cart = await fill_cart(alice, (await make_product(), 2))
    headers = {**alice, "Idempotency-Key": "budgeted"}

    def checkout() -> Any:
        return client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)

    _is_busy(await _with_every_connection_taken(app, checkout))
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == 0
        assert await conn.scalar(select(func.sum(CartItem.quantity))) == 2

    placed = await checkout()
    assert placed.status_code == 201, placed.text
    assert [i["quantity"] for i in placed.json()["items"]] == [2]


async def test_placing_a_draft_with_no_connection_free_answers_busy_when_its_budget_ends(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    draft = (await client.post("/api/orders/", headers=alice)).json()
    product = await make_product()
    line = await client.post(
        "/api/order-items/",
        json={"order_id": draft["id"], "product_id": product.product_id, "quantity": 1},
        headers=alice,
    )
    assert line.status_code == 201, line.text

    def place() -> Any:
        return client.post(f"/api/orders/{draft['id']}/place/", headers=alice)

    _is_busy(await _with_every_connection_taken(app, place))
    assert (await client.get(f"/api/orders/{draft['id']}/", headers=alice)).json()[
        "status"
    ] == "draft"
    placed = await place()
    assert placed.status_code == 200, placed.text
    assert placed.json()["status"] == "pending"


async def test_a_checkout_that_waited_its_budget_before_the_app_saw_it_answers_busy(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    """The budget counts from when the gateway passed the request on: one that waited
    longer than the budget for a busy replica's loop is refused at once, untouched."""
    cart = await fill_cart(alice, (await make_product(), 2))
    waited_at_the_edge = {"X-Request-Start": f"t={time.time() - BUDGET_S - 1:.3f}"}
    late = await client.post(
        "/api/orders/", json={"cart_id": cart["id"]}, headers={**alice, **waited_at_the_edge}
    )
    _is_busy(late)
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == 0
        assert await conn.scalar(select(func.sum(CartItem.quantity))) == 2

    fresh = {"X-Request-Start": f"t={time.time():.3f}"}
    placed = await client.post(
        "/api/orders/", json={"cart_id": cart["id"]}, headers={**alice, **fresh}
    )
    assert placed.status_code == 201, placed.text
