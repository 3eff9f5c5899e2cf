"""POST /api/orders/ {cart_id}: a pending order priced from the replica, the cart emptied
in the same transaction, exact decimals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from orders.db.tables import Cart, CartItem, Order, OrderItem
from shared.testing import count_statements, eventually_async, waiting_on_a_lock

Headers = dict[str, str]


async def test_order_from_cart(
    client: httpx.AsyncClient,
    alice: Headers,
    make_product: Any,
    fill_cart: Any,
    app: FastAPI,
) -> None:
    dime = await make_product("Dime", price="0.10")
    twenty = await make_product("Twenty", price="0.20")
    cart = await fill_cart(alice, (dime, 3), (twenty, 3))
    before = datetime.now(UTC)

    response = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["user_id"] == 2
    assert order["total_amount"] == "0.90"
    assert order["currency"] == "EUR"
    assert order["cancel_reason"] is None
    expires_at = datetime.fromisoformat(order["expires_at"])
    assert (
        before + timedelta(seconds=899) <= expires_at <= datetime.now(UTC) + timedelta(seconds=901)
    )
    assert [
        (i["product_id"], i["name"], i["quantity"], i["unit_price"], i["line_total"])
        for i in order["items"]
    ] == [
        (dime.product_id, "Dime", 3, "0.10", "0.30"),
        (twenty.product_id, "Twenty", 3, "0.20", "0.60"),
    ]
    assert all(i["order_id"] == order["id"] for i in order["items"])

    emptied = (await client.get(f"/api/shopping-carts/{cart['id']}/", headers=alice)).json()
    assert emptied["items"] == []
    assert emptied["total"] == "0.00"
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(CartItem)) == 0
        stored = (await conn.execute(select(Order.status, Order.total_amount))).one()
        assert (stored.status, str(stored.total_amount)) == ("pending", "0.90")
        assert await conn.scalar(select(func.sum(OrderItem.line_total))) == stored.total_amount

    assert (await client.get(f"/api/orders/{order['id']}/", headers=alice)).json() == order


async def test_order_keeps_the_price_it_was_bought_at(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any
) -> None:
    product = await make_product("Lamp", price="19.99")
    cart = await fill_cart(alice, (product, 2))
    order = (await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)).json()
    await make_product("Lamp v2", price="99.00", product_id=product.product_id)

    again = (await client.get(f"/api/orders/{order['id']}/", headers=alice)).json()
    assert again["items"][0]["name"] == "Lamp"
    assert again["items"][0]["unit_price"] == "19.99"
    assert again["total_amount"] == "39.98"


async def test_client_prices_are_not_accepted(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/orders/", json={"cart_id": alice_cart["id"], "total_amount": "0.01"}, headers=alice
    )
    assert response.status_code == 422


async def test_empty_cart_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: Headers, alice_cart: dict[str, Any], app: FastAPI
) -> None:
    response = await client.post("/api/orders/", json={"cart_id": alice_cart["id"]}, headers=alice)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "cart_id"]
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == 0


async def test_second_checkout_of_the_same_cart_finds_it_empty(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any
) -> None:
    cart = await fill_cart(alice, (await make_product(), 1))
    first = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)
    second = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)
    assert (first.status_code, second.status_code) == (201, 422)


async def test_product_withdrawn_since_it_was_added_is_422(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    keep = await make_product()
    withdrawn = await make_product()
    cart = await fill_cart(alice, (keep, 1), (withdrawn, 1))
    await make_product(active=False, product_id=withdrawn.product_id)

    response = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)

    assert response.status_code == 422
    assert str(withdrawn.product_id) in response.json()["detail"]
    still = (await client.get(f"/api/shopping-carts/{cart['id']}/", headers=alice)).json()
    assert len(still["items"]) == 2
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Order)) == 0


async def test_total_beyond_what_can_be_stored_is_422(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any
) -> None:
    costly = await make_product(price="9999999999.99")
    cart = await fill_cart(alice, (costly, 2))
    response = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)
    assert response.status_code == 422


async def test_someone_elses_or_unknown_cart_is_404(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, make_product: Any, fill_cart: Any
) -> None:
    cart = await fill_cart(alice, (await make_product(), 1))
    assert (
        await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=bob)
    ).status_code == 404
    assert (
        await client.post("/api/orders/", json={"cart_id": 987654}, headers=alice)
    ).status_code == 404
    still = (await client.get(f"/api/shopping-carts/{cart['id']}/", headers=alice)).json()
    assert len(still["items"]) == 1


@pytest.mark.parametrize("body", [{"cart_id": "1"}, {"cart_id": 0}, {"cart_id": 1.0}, []])
async def test_invalid_order_body_is_422(
    client: httpx.AsyncClient, alice: Headers, body: Any
) -> None:
    assert (await client.post("/api/orders/", json=body, headers=alice)).status_code == 422


async def test_malformed_json_is_400(client: httpx.AsyncClient, alice: Headers) -> None:
    response = await client.post(
        "/api/orders/",
        content=b"{cart_id: 1}",
        headers={**alice, "content-type": "application/json"},
    )
    assert response.status_code == 400


async def test_anonymous_cannot_order(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/orders/", json={})).status_code == 401
    assert (await client.get("/api/orders/")).status_code == 401


async def test_a_checkout_takes_the_line_an_edit_committed_while_it_waited(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    """An edit of the cart holds its lock; the checkout waits for it, then orders what
    the cart holds once the edit commits, the new line included, and empties it. The
    edit commits only once the checkout is seen waiting on its lock, never by a timer."""
    first, added = await make_product("First"), await make_product("Added while waiting")
    cart = await fill_cart(alice, (first, 1))
    async with app.state.engine.connect() as edit:
        await edit.execute(select(Cart.id).where(Cart.id == cart["id"]).with_for_update(read=True))
        await edit.execute(
            insert(CartItem).values(cart_id=cart["id"], product_id=added.product_id, quantity=2)
        )
        checkout = asyncio.create_task(
            client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)
        )
        await eventually_async(
            lambda: waiting_on_a_lock(app.state.engine), what="the checkout waiting on the cart"
        )
        await edit.commit()
    response = await checkout
    assert response.status_code == 201, response.text
    assert [(i["name"], i["quantity"]) for i in response.json()["items"]] == [
        ("First", 1),
        ("Added while waiting", 2),
    ]
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(CartItem)) == 0


async def test_a_keyed_checkout_runs_eight_statements(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    """The checkout's round trips are its cost under load (each one ORM and driver work
    on a busy event loop): the key's lock and record, the cart's and the customer's
    locks, the cart's lines with the unpaid count, the order, its lines, its event, the
    key's answer."""
    cart = await fill_cart(alice, (await make_product(), 1), (await make_product(), 3))
    with count_statements(app.state.engine) as counter:
        response = await client.post(
            "/api/orders/",
            json={"cart_id": cart["id"]},
            headers={**alice, "Idempotency-Key": "counted"},
        )
    assert response.status_code == 201, response.text
    assert counter.count == 8, counter.statements
