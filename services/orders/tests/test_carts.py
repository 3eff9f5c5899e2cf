"""/api/shopping-carts/ and /api/cart-items/: one open cart per user, lines priced from
the product replica, quantities summed atomically, totals exact."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from orders.db.tables import Cart, CartItem
from shared.testing import count_statements

Headers = dict[str, str]


async def add(
    client: httpx.AsyncClient, headers: Headers, cart_id: int, product_id: int, quantity: int
) -> httpx.Response:
    return await client.post(
        "/api/cart-items/",
        json={"cart_id": cart_id, "product_id": product_id, "quantity": quantity},
        headers=headers,
    )


async def test_open_cart_is_created_once(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI
) -> None:
    created = await client.post("/api/shopping-carts/", headers=alice)
    assert created.status_code == 201
    cart = created.json()
    assert cart["user_id"] == 2
    assert cart["status"] == "open"
    assert cart["items"] == []
    assert cart["total"] == "0.00"

    again = await client.post("/api/shopping-carts", headers=alice)
    assert again.status_code == 200
    assert again.json()["id"] == cart["id"]


async def test_opening_a_cart_runs_two_statements(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    """Every checkout opens the cart: the insert that does nothing when it exists, then
    the cart and its lines in one read."""
    with count_statements(app.state.engine) as counter:
        created = await client.post("/api/shopping-carts/", headers=alice)
    assert created.status_code == 201, created.text
    assert counter.count == 2, counter.statements
    product = await make_product(price="2.50")
    added = await add(client, alice, created.json()["id"], product.product_id, 2)
    assert added.status_code == 201, added.text
    with count_statements(app.state.engine) as counter:
        again = await client.post("/api/shopping-carts/", headers=alice)
    assert again.status_code == 200, again.text
    assert [(line["product_id"], line["quantity"]) for line in again.json()["items"]] == [
        (product.product_id, 2)
    ]
    assert again.json()["total"] == "5.00"
    assert counter.count == 2, counter.statements


async def test_adding_a_line_runs_three_statements(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    app: FastAPI,
) -> None:
    """The cart's lock, the product with the cart's other lines counted, the upsert: the
    answer is built from what they returned, the same as a read of the line."""
    product = await make_product("Counted", price="1.10")
    for expected_status, quantity in ((201, 3), (200, 6)):
        with count_statements(app.state.engine) as counter:
            response = await add(client, alice, alice_cart["id"], product.product_id, 3)
        assert response.status_code == expected_status, response.text
        assert counter.count == 3, counter.statements
        line = response.json()
        assert line["quantity"] == quantity
        assert line["line_total"] == str(Decimal("1.10") * quantity)
        read = await client.get(f"/api/cart-items/{line['id']}/", headers=alice)
        assert read.json() == line


async def test_concurrent_opens_make_one_cart(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI
) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/shopping-carts/", headers=alice) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Cart)) == 1


async def test_cart_lines_and_exact_total(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any], make_product: Any
) -> None:
    """The money example: 3 x 0.10 + 3 x 0.20 is exactly 0.90, not 0.9000000000000001."""
    dime = await make_product("Dime", price="0.10")
    twenty = await make_product("Twenty", price="0.20")
    first = await add(client, alice, alice_cart["id"], dime.product_id, 3)
    assert first.status_code == 201
    line = first.json()
    assert (line["name"], line["unit_price"], line["quantity"], line["line_total"]) == (
        "Dime",
        "0.10",
        3,
        "0.30",
    )
    assert (await add(client, alice, alice_cart["id"], twenty.product_id, 3)).status_code == 201

    cart = (await client.get(f"/api/shopping-carts/{alice_cart['id']}/", headers=alice)).json()
    assert cart["total"] == "0.90"
    assert [
        (i["product_id"], i["name"], i["unit_price"], i["quantity"], i["line_total"])
        for i in cart["items"]
    ] == [
        (dime.product_id, "Dime", "0.10", 3, "0.30"),
        (twenty.product_id, "Twenty", "0.20", 3, "0.60"),
    ]


async def test_cart_prices_follow_the_replica(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any], make_product: Any
) -> None:
    product = await make_product("Lamp", price="20.00")
    await add(client, alice, alice_cart["id"], product.product_id, 2)
    await make_product("Lamp", price="15.50", product_id=product.product_id)
    cart = (await client.get(f"/api/shopping-carts/{alice_cart['id']}/", headers=alice)).json()
    assert cart["items"][0]["unit_price"] == "15.50"
    assert cart["total"] == "31.00"


async def test_adding_again_adds_to_the_quantity(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    app: FastAPI,
) -> None:
    product = await make_product()
    first = await add(client, alice, alice_cart["id"], product.product_id, 2)
    second = await add(client, alice, alice_cart["id"], product.product_id, 5)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["quantity"] == 7


async def test_concurrent_adds_all_count(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    app: FastAPI,
) -> None:
    product = await make_product()
    responses = await asyncio.gather(
        *(add(client, alice, alice_cart["id"], product.product_id, 3) for _ in range(10))
    )
    assert {r.status_code for r in responses} <= {200, 201}
    async with app.state.engine.connect() as conn:
        quantities = (await conn.execute(select(CartItem.quantity))).scalars().all()
    assert quantities == [30]


async def test_a_line_holds_at_most_1000(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    app: FastAPI,
) -> None:
    product = await make_product()
    assert (await add(client, alice, alice_cart["id"], product.product_id, 999)).status_code == 201
    over = await add(client, alice, alice_cart["id"], product.product_id, 2)
    assert over.status_code == 422
    assert over.headers["content-type"] == "application/problem+json"
    assert over.json()["errors"][0]["loc"] == ["body", "quantity"]
    assert (await add(client, alice, alice_cart["id"], product.product_id, 1)).json()[
        "quantity"
    ] == 1000
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(CartItem.quantity))).scalars().all() == [1000]


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 1001},
        {"quantity": "2"},
        {"quantity": 1.5},
        {"quantity": True},
        {"quantity": None},
        {"product_id": "x"},
        {"product_id": 0},
        {"cart_id": -5},
        {"extra": 1},
    ],
)
async def test_invalid_cart_item_is_422(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    change: dict[str, Any],
    app: FastAPI,
) -> None:
    product = await make_product()
    body = {"cart_id": alice_cart["id"], "product_id": product.product_id, "quantity": 1, **change}
    response = await client.post("/api/cart-items/", json=body, headers=alice)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(CartItem)) == 0


async def test_missing_fields_and_malformed_json(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any]
) -> None:
    assert (await client.post("/api/cart-items/", json={}, headers=alice)).status_code == 422
    malformed = await client.post(
        "/api/cart-items/",
        content=b'{"cart_id": 1,',
        headers={**alice, "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "/problems/bad-request"


async def test_unknown_or_inactive_product_is_422(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any], make_product: Any
) -> None:
    retired = await make_product(active=False)
    for product_id in (retired.product_id, 987654):
        response = await add(client, alice, alice_cart["id"], product_id, 1)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "product_id"]


async def test_unknown_cart_is_404(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    product = await make_product()
    assert (await add(client, alice, 424242, product.product_id, 1)).status_code == 404
    assert (await client.get("/api/shopping-carts/424242/", headers=alice)).status_code == 404
    assert (await client.get("/api/shopping-carts/0/", headers=alice)).status_code == 422


async def test_patch_and_delete_a_line(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    app: FastAPI,
) -> None:
    product = await make_product(price="2.50")
    line = (await add(client, alice, alice_cart["id"], product.product_id, 1)).json()
    url = f"/api/cart-items/{line['id']}/"

    patched = await client.patch(url, json={"quantity": 4}, headers=alice)
    assert patched.status_code == 200
    assert (patched.json()["quantity"], patched.json()["line_total"]) == (4, "10.00")
    for bad in ({"quantity": 0}, {"quantity": 1001}, {"quantity": "4"}, {}):
        assert (await client.patch(url, json=bad, headers=alice)).status_code == 422
    assert (await client.get(url, headers=alice)).json()["quantity"] == 4

    assert (await client.delete(url, headers=alice)).status_code == 204
    assert (await client.get(url, headers=alice)).status_code == 404
    assert (await client.delete(url, headers=alice)).status_code == 404
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(CartItem)) == 0


async def test_lists_are_own_only(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    make_product: Any,
    fill_cart: Any,
) -> None:
    product = await make_product()
    alices = await fill_cart(alice, (product, 1))
    bobs = await fill_cart(bob, (product, 2))

    def ids(response: httpx.Response) -> list[int]:
        assert response.status_code == 200
        return [r["id"] for r in response.json()["results"]]

    assert ids(await client.get("/api/shopping-carts/", headers=alice)) == [alices["id"]]
    assert ids(await client.get("/api/shopping-carts/", headers=bob)) == [bobs["id"]]
    assert sorted(ids(await client.get("/api/shopping-carts/", headers=staff))) == sorted(
        [alices["id"], bobs["id"]]
    )
    assert ids(await client.get("/api/cart-items/", headers=alice)) == [alices["items"][0]["id"]]
    assert ids(await client.get(f"/api/cart-items/?cart={bobs['id']}", headers=alice)) == []
    assert len(ids(await client.get("/api/cart-items/", headers=staff))) == 2


async def test_someone_elses_cart_and_lines_are_404(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    make_product: Any,
    fill_cart: Any,
) -> None:
    product = await make_product()
    cart = await fill_cart(alice, (product, 1))
    line_url = f"/api/cart-items/{cart['items'][0]['id']}/"

    assert (await client.get(f"/api/shopping-carts/{cart['id']}/", headers=bob)).status_code == 404
    assert (await add(client, bob, cart["id"], product.product_id, 1)).status_code == 404
    assert (await client.get(line_url, headers=bob)).status_code == 404
    assert (await client.patch(line_url, json={"quantity": 9}, headers=bob)).status_code == 404
    assert (await client.delete(line_url, headers=bob)).status_code == 404
    # Staff read everything but do not change a customer's cart.
    assert (await client.get(line_url, headers=staff)).status_code == 200
    assert (await client.patch(line_url, json={"quantity": 9}, headers=staff)).status_code == 404

    after = (await client.get(f"/api/shopping-carts/{cart['id']}/", headers=staff)).json()
    assert after["items"][0]["quantity"] == 1


async def test_anonymous_is_401(client: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/api/shopping-carts/"),
        ("POST", "/api/shopping-carts/"),
        ("GET", "/api/cart-items/"),
        ("GET", "/api/cart-items/1/"),
    ]:
        response = await client.request(method, url)
        assert response.status_code == 401
