"""List endpoints: own rows only (staff: all), newest-first keyset pages, filters, and a
fixed number of SQL statements whatever the number of rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orders.domain import lifecycle
from shared.testing import bearer, count_statements

Headers = dict[str, str]


async def test_orders_newest_first_with_pages_and_filter(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    place_order: Any,
    app: FastAPI,
) -> None:
    mine = [(await place_order(alice))["id"] for _ in range(5)]
    theirs = (await place_order(bob))["id"]
    async with app.state.sessionmaker.begin() as session:
        await lifecycle.stock_reserved(session, mine[1])

    page = (await client.get("/api/orders/?limit=2", headers=alice)).json()
    assert [o["id"] for o in page["results"]] == [mine[4], mine[3]]
    assert page["previous"] is None
    second = (await client.get(page["next"], headers=alice)).json()
    assert [o["id"] for o in second["results"]] == [mine[2], mine[1]]
    third = (await client.get(second["next"], headers=alice)).json()
    assert [o["id"] for o in third["results"]] == [mine[0]]
    assert third["next"] is None
    back = (await client.get(third["previous"], headers=alice)).json()
    assert [o["id"] for o in back["results"]] == [mine[2], mine[1]]

    waiting = (await client.get("/api/orders/?status=awaiting_payment", headers=alice)).json()
    assert [o["id"] for o in waiting["results"]] == [mine[1]]
    assert (await client.get("/api/orders/?status=lost", headers=alice)).status_code == 422
    assert (await client.get("/api/orders/?limit=101", headers=alice)).status_code == 422
    assert (await client.get("/api/orders/?cursor=garbage", headers=alice)).status_code == 422

    everyone = (await client.get("/api/orders/?limit=100", headers=staff)).json()
    assert [o["id"] for o in everyone["results"]] == [theirs, *reversed(mine)]
    bobs = (await client.get("/api/orders/", headers=bob)).json()
    assert [o["id"] for o in bobs["results"]] == [theirs]


async def test_someone_elses_order_is_404(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, staff: Headers, place_order: Any
) -> None:
    order = await place_order(alice)
    assert (await client.get(f"/api/orders/{order['id']}/", headers=bob)).status_code == 404
    assert (await client.get("/api/orders/987654/", headers=alice)).status_code == 404
    assert (await client.get(f"/api/orders/{order['id']}/", headers=staff)).status_code == 200
    line_id = order["items"][0]["id"]
    assert (await client.get(f"/api/order-items/{line_id}/", headers=bob)).status_code == 404
    assert (await client.get("/api/order-items/", headers=bob)).json()["results"] == []


LISTS = [
    "/api/orders/",
    "/api/order-items/",
    "/api/shopping-carts/",
    "/api/cart-items/",
    "/api/wishlists/",
    "/api/wishlist-items/",
]


async def _shop_for(
    client: httpx.AsyncClient, headers: Headers, products: list[Any], fill_cart: Any
) -> None:
    """One order, a filled cart and a wishlist, with as many lines as there are products."""
    lines = [(p, 1) for p in products]
    cart = await fill_cart(headers, *lines)
    assert (
        await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)
    ).status_code == 201
    await fill_cart(headers, *lines)
    wishlist = (
        await client.post("/api/wishlists/", json={"name": "Later"}, headers=headers)
    ).json()
    for product in products:
        await client.post(
            "/api/wishlist-items/",
            json={"wishlist_id": wishlist["id"], "product_id": product.product_id},
            headers=headers,
        )


@pytest.mark.parametrize("url", LISTS)
async def test_lists_run_a_fixed_number_of_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    staff: Headers,
    make_product: Any,
    fill_cart: Any,
    mint_token: Callable[..., str],
    url: str,
) -> None:
    products = [await make_product(f"P{i}") for i in range(4)]

    async def statements() -> int:
        with count_statements(app.state.engine) as counter:
            response = await client.get(url, headers=staff)
        assert response.status_code == 200
        assert response.json()["results"]
        return counter.count

    await _shop_for(client, bearer(mint_token(10)), products[:1], fill_cart)
    few = await statements()
    for user_id in range(11, 15):
        await _shop_for(client, bearer(mint_token(user_id)), products, fill_cart)
    assert await statements() == few
