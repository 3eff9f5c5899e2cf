"""Hoarding caps: lines per cart, lines per draft, unpaid orders per customer (409
`limit-reached` naming the limit), each configurable."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from orders.settings import OrdersSettings
from shared.dbadmin import service_url

Headers = dict[str, str]


@pytest.fixture
def settings(test_database: str, redis_url: str) -> OrdersSettings:
    return OrdersSettings(
        environment="test",
        database_url=service_url("orders", database=test_database),
        redis_url=redis_url,
        jwks_url="http://users/.well-known/jwks.json",
        log_json=False,
        max_cart_lines=3,
        max_order_lines=2,
        max_unpaid_orders=2,
    )


def assert_limit(response: httpx.Response, limit: str, maximum: int) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["limit"], body["maximum"]) == (
        "/problems/limit-reached",
        limit,
        maximum,
    )


async def test_a_cart_holds_a_bounded_number_of_products(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any], make_product: Any
) -> None:
    products = [await make_product(f"P{i}") for i in range(4)]

    async def add(product: Any) -> httpx.Response:
        body = {"cart_id": alice_cart["id"], "product_id": product.product_id, "quantity": 1}
        return await client.post("/api/cart-items/", json=body, headers=alice)

    for product in products[:3]:
        assert (await add(product)).status_code == 201
    assert_limit(await add(products[3]), "max_cart_lines", 3)
    # More of a product already there is no new line.
    assert (await add(products[0])).status_code == 200
    cart = await client.get(f"/api/shopping-carts/{alice_cart['id']}/", headers=alice)
    assert len(cart.json()["items"]) == 3


async def test_a_draft_holds_a_bounded_number_of_products(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    draft = (await client.post("/api/orders/", json={}, headers=alice)).json()
    products = [await make_product(f"D{i}") for i in range(3)]

    async def add(product: Any) -> httpx.Response:
        body = {"order_id": draft["id"], "product_id": product.product_id, "quantity": 1}
        return await client.post("/api/order-items/", json=body, headers=alice)

    assert [(await add(p)).status_code for p in products[:2]] == [201, 201]
    assert_limit(await add(products[2]), "max_order_lines", 2)
    order = await client.get(f"/api/orders/{draft['id']}/", headers=alice)
    assert len(order.json()["items"]) == 2


async def test_unpaid_orders_per_customer_are_capped_even_when_placed_at_once(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, make_product: Any, place_order: Any
) -> None:
    product = await make_product()
    drafts = [(await client.post("/api/orders/", json={}, headers=alice)).json() for _ in range(4)]
    for draft in drafts:
        body = {"order_id": draft["id"], "product_id": product.product_id, "quantity": 1}
        assert (await client.post("/api/order-items/", json=body, headers=alice)).status_code == 201
    placed = await asyncio.gather(
        *(client.post(f"/api/orders/{d['id']}/place/", headers=alice) for d in drafts)
    )
    assert sorted(r.status_code for r in placed) == [200, 200, 409, 409]
    assert_limit(next(r for r in placed if r.status_code == 409), "max_unpaid_orders", 2)
    # From a cart too, and the refused checkout leaves the cart as it was.
    cart = (await client.post("/api/shopping-carts/", headers=alice)).json()
    line = {"cart_id": cart["id"], "product_id": product.product_id, "quantity": 1}
    await client.post("/api/cart-items/", json=line, headers=alice)
    refused = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)
    assert_limit(refused, "max_unpaid_orders", 2)
    kept = await client.get(f"/api/shopping-carts/{cart['id']}/", headers=alice)
    assert len(kept.json()["items"]) == 1
    # The refused drafts are still drafts; other customers were never limited.
    refused_draft = drafts[[r.status_code for r in placed].index(409)]
    still = await client.get(f"/api/orders/{refused_draft['id']}/", headers=alice)
    assert still.json()["status"] == "draft"
    await place_order(bob)
