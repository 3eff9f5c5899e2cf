"""At most `max_placements_in_flight` placements run in a replica at once. The others wait
their turn in arrival order before their token or body is looked at; one whose turn has
not come within `placement_queue_seconds` is answered 503 busy with a Retry-After and
leaves nothing behind, and the admitted ones are not disturbed by it; one whose turn
comes is served without a retry, in the order it arrived."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from orders.db.tables import CartItem, Order
from orders.settings import OrdersSettings
from shared.testing import bearer, eventually_async

Headers = dict[str, str]
LIMIT = 2
POOL_WAIT_S = 120.0  # the admitted placements wait for the one connection the test holds
QUEUE_S = 0.5
BUYER_IDS = (20, 21, 22)


@pytest.fixture
def limit() -> int:
    return LIMIT


@pytest.fixture
def queue_seconds() -> float:
    return QUEUE_S


@pytest.fixture
def settings(settings: OrdersSettings, limit: int, queue_seconds: float) -> OrdersSettings:
    return settings.model_copy(
        update={
            "db_pool_size": 1,
            "db_pool_timeout_seconds": POOL_WAIT_S,
            "placement_budget_seconds": POOL_WAIT_S,
            "max_placements_in_flight": limit,
            "placement_queue_seconds": queue_seconds,
        }
    )


BuyersWithCarts = tuple[list[Headers], list[dict[str, Any]]]


@pytest.fixture
async def buyers_with_carts(
    mint_token: Callable[..., str], make_product: Any, fill_cart: Any
) -> BuyersWithCarts:
    """A token and a filled cart for each of BUYER_IDS."""
    product = await make_product()
    buyers = [bearer(mint_token(user_id)) for user_id in BUYER_IDS]
    return buyers, [await fill_cart(headers, (product, 1)) for headers in buyers]


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": "placement"}) or 0.0


async def _gauge_is(name: str, value: float) -> bool:
    return _metric(name) == value


def _is_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/problems/busy")
    assert problem["status"] == 503
    assert "Too many orders are being placed" in problem["detail"]
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_placement_whose_turn_does_not_come_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, buyers_with_carts: BuyersWithCarts, app: FastAPI
) -> None:
    buyers, carts = buyers_with_carts
    refused_before = _metric("shop_admission_refused_total")

    def checkout(i: int) -> Any:
        return client.post("/api/orders/", json={"cart_id": carts[i]["id"]}, headers=buyers[i])

    async with app.state.engine.connect() as held:  # the pool's only connection
        await held.execute(text("SELECT 1"))
        admitted = [asyncio.create_task(checkout(i)) for i in range(LIMIT)]
        await eventually_async(
            lambda: _gauge_is("shop_admission_in_flight", LIMIT), what="the placements admitted"
        )

        _is_busy(await asyncio.wait_for(checkout(2), POOL_WAIT_S / 4))
        # Refused before its token is checked: the queue costs no signature check.
        anonymous = await client.post("/api/orders/", json={"cart_id": carts[2]["id"]})
        _is_busy(anonymous)
        # Other routes of the replica do not queue.
        health = await client.get("/health/live")
        assert health.status_code == 200
        assert not any(task.done() for task in admitted)

    for task in admitted:
        response = await task
        assert response.status_code == 201, response.text
    assert _metric("shop_admission_in_flight") == 0
    assert _metric("shop_admission_refused_total") - refused_before == 2

    async with app.state.engine.connect() as conn:
        owners = (await conn.scalars(select(Order.user_id))).all()
        assert sorted(owners) == list(BUYER_IDS[:LIMIT])
        left = select(func.sum(CartItem.quantity)).where(CartItem.cart_id == carts[2]["id"])
        assert await conn.scalar(left) == 1

    retried = await checkout(2)
    assert retried.status_code == 201, retried.text
    assert retried.json()["user_id"] == BUYER_IDS[2]


async def test_placing_a_draft_waits_in_the_same_queue(
    client: httpx.AsyncClient, mint_token: Callable[..., str], make_product: Any, app: FastAPI
) -> None:
    product = await make_product()
    buyers = [bearer(mint_token(user_id)) for user_id in BUYER_IDS]
    drafts = []
    for headers in buyers:
        draft = (await client.post("/api/orders/", headers=headers)).json()
        line = await client.post(
            "/api/order-items/",
            json={"order_id": draft["id"], "product_id": product.product_id, "quantity": 1},
            headers=headers,
        )
        assert line.status_code == 201, line.text
        drafts.append(draft)

    def place(i: int) -> Any:
        return client.post(f"/api/orders/{drafts[i]['id']}/place/", headers=buyers[i])

    async with app.state.engine.connect() as held:
        await held.execute(text("SELECT 1"))
        admitted = [asyncio.create_task(place(i)) for i in range(LIMIT)]
        await eventually_async(
            lambda: _gauge_is("shop_admission_in_flight", LIMIT), what="the placements admitted"
        )
        _is_busy(await asyncio.wait_for(place(2), POOL_WAIT_S / 4))

    for task in admitted:
        assert (await task).status_code == 200
    third = await client.get(f"/api/orders/{drafts[2]['id']}/", headers=buyers[2])
    assert third.json()["status"] == "draft"
    assert (await place(2)).status_code == 200


@pytest.mark.parametrize(("limit", "queue_seconds"), [(1, POOL_WAIT_S)])
async def test_queued_placements_are_served_in_arrival_order(
    client: httpx.AsyncClient, buyers_with_carts: BuyersWithCarts, app: FastAPI
) -> None:
    buyers, carts = buyers_with_carts

    def checkout(i: int) -> Any:
        return client.post("/api/orders/", json={"cart_id": carts[i]["id"]}, headers=buyers[i])

    placements = []
    async with app.state.engine.connect() as held:  # the pool's only connection
        await held.execute(text("SELECT 1"))
        placements.append(asyncio.create_task(checkout(0)))
        await eventually_async(lambda: _gauge_is("shop_admission_in_flight", 1), what="admitted")
        for i in (1, 2):  # each queued behind the ones before it
            placements.append(asyncio.create_task(checkout(i)))
            queued = lambda i=i: _gauge_is("shop_admission_queued", i)  # noqa: E731
            await eventually_async(queued, what=f"{i} queued")
    answers = [await task for task in placements]

    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    ids = [a.json()["id"] for a in answers]
    assert ids == sorted(ids)  # each placed after the one before it ended
    assert [a.json()["user_id"] for a in answers] == list(BUYER_IDS)
    assert await _gauge_is("shop_admission_queued", 0)
    assert await _gauge_is("shop_admission_in_flight", 0)
