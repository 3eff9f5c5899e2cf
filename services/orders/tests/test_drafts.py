"""Draft orders: POST /api/orders/ {} starts one, /api/order-items/ fills it, and
POST /api/orders/{id}/place/ submits it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from orders.db.tables import Order, OrderItem

Headers = dict[str, str]


async def new_draft(client: httpx.AsyncClient, headers: Headers) -> dict[str, Any]:
    response = await client.post("/api/orders/", json={}, headers=headers)
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


async def add_line(
    client: httpx.AsyncClient, headers: Headers, order_id: int, product_id: int, quantity: int
) -> httpx.Response:
    return await client.post(
        "/api/order-items/",
        json={"order_id": order_id, "product_id": product_id, "quantity": quantity},
        headers=headers,
    )


async def test_draft_fill_and_place(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    draft = await new_draft(client, alice)
    assert (draft["status"], draft["items"], draft["total_amount"]) == ("draft", [], "0.00")
    assert draft["expires_at"] is None
    assert (await client.post("/api/orders/", headers=alice)).json()["status"] == "draft"

    pen = await make_product("Pen", price="0.10")
    ink = await make_product("Ink", price="0.20")
    first = await add_line(client, alice, draft["id"], pen.product_id, 1)
    assert first.status_code == 201
    assert (first.json()["name"], first.json()["unit_price"], first.json()["line_total"]) == (
        "Pen",
        "0.10",
        "0.10",
    )
    more = await add_line(client, alice, draft["id"], pen.product_id, 2)
    assert more.status_code == 200
    assert (more.json()["id"], more.json()["quantity"], more.json()["line_total"]) == (
        first.json()["id"],
        3,
        "0.30",
    )
    await add_line(client, alice, draft["id"], ink.product_id, 3)
    filled = (await client.get(f"/api/orders/{draft['id']}/", headers=alice)).json()
    assert (filled["status"], filled["total_amount"]) == ("draft", "0.90")

    placed = await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)
    assert placed.status_code == 200
    order = placed.json()
    assert (order["status"], order["total_amount"]) == ("pending", "0.90")
    assert order["expires_at"] is not None
    assert [(i["name"], i["quantity"], i["line_total"]) for i in order["items"]] == [
        ("Pen", 3, "0.30"),
        ("Ink", 3, "0.60"),
    ]

    lines = (await client.get(f"/api/order-items/?order={draft['id']}", headers=alice)).json()
    assert [i["product_id"] for i in lines["results"]] == [pen.product_id, ink.product_id]
    one = await client.get(f"/api/order-items/{first.json()['id']}/", headers=alice)
    assert one.json()["quantity"] == 3


async def test_placing_prices_lines_at_the_current_price(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product("Tea", price="3.00")
    await add_line(client, alice, draft["id"], product.product_id, 2)
    await make_product("Green tea", price="3.50", product_id=product.product_id)

    order = (await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)).json()

    assert (order["items"][0]["name"], order["items"][0]["unit_price"]) == ("Green tea", "3.50")
    assert order["total_amount"] == "7.00"


async def test_placing_with_a_withdrawn_product_is_422(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product()
    await add_line(client, alice, draft["id"], product.product_id, 1)
    await make_product(active=False, product_id=product.product_id)
    response = await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)
    assert response.status_code == 422
    assert (await client.get(f"/api/orders/{draft['id']}/", headers=alice)).json()[
        "status"
    ] == "draft"


async def test_empty_draft_cannot_be_placed(client: httpx.AsyncClient, alice: Headers) -> None:
    draft = await new_draft(client, alice)
    response = await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)
    assert response.status_code == 422


async def test_only_drafts_take_lines_and_get_placed(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product()
    await add_line(client, alice, draft["id"], product.product_id, 1)
    await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)

    late = await add_line(client, alice, draft["id"], product.product_id, 1)
    assert late.status_code == 409
    assert late.json()["current_status"] == "pending"
    twice = await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)
    assert (twice.status_code, twice.json()["current_status"]) == (409, "pending")
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(OrderItem.quantity))).scalars().all() == [1]


async def test_draft_line_limits(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product()
    assert (await add_line(client, alice, draft["id"], product.product_id, 1000)).status_code == 201
    over = await add_line(client, alice, draft["id"], product.product_id, 1)
    assert over.status_code == 422
    retired = await make_product(active=False)
    assert (await add_line(client, alice, draft["id"], retired.product_id, 1)).status_code == 422
    assert (await add_line(client, alice, draft["id"], 987654, 1)).status_code == 422
    costly = await make_product(price="9999999999.99")
    assert (await add_line(client, alice, draft["id"], costly.product_id, 1)).status_code == 422


@pytest.mark.parametrize(
    "change",
    [{"quantity": 0}, {"quantity": -3}, {"quantity": 1001}, {"quantity": "1"}, {"order_id": None}],
)
async def test_invalid_order_item_is_422(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, change: dict[str, Any]
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product()
    body = {"order_id": draft["id"], "product_id": product.product_id, "quantity": 1, **change}
    assert (await client.post("/api/order-items/", json=body, headers=alice)).status_code == 422


async def test_concurrent_lines_on_one_draft_all_count(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product(price="1.25")
    responses = await asyncio.gather(
        *(add_line(client, alice, draft["id"], product.product_id, 2) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    async with app.state.engine.connect() as conn:
        total = await conn.scalar(select(Order.total_amount))
        quantities = (await conn.execute(select(OrderItem.quantity))).scalars().all()
    assert quantities == [16]
    assert str(total) == "20.00"


async def test_someone_elses_draft_is_404(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, staff: Headers, make_product: Any
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product()
    line = (await add_line(client, alice, draft["id"], product.product_id, 1)).json()

    assert (await add_line(client, bob, draft["id"], product.product_id, 1)).status_code == 404
    assert (await add_line(client, staff, draft["id"], product.product_id, 1)).status_code == 404
    assert (await add_line(client, alice, 987654, product.product_id, 1)).status_code == 404
    assert (await client.post(f"/api/orders/{draft['id']}/place/", headers=bob)).status_code == 404
    assert (await client.get(f"/api/order-items/{line['id']}/", headers=bob)).status_code == 404
    assert (await client.get(f"/api/order-items/{line['id']}/", headers=staff)).status_code == 200
    listed = (await client.get(f"/api/order-items/?order={draft['id']}", headers=bob)).json()
    assert listed["results"] == []


async def _order_row(app: FastAPI) -> tuple[str, list[tuple[int, str]]]:
    async with app.state.engine.connect() as conn:
        total = await conn.scalar(select(Order.total_amount))
        lines = (
            await conn.execute(
                select(OrderItem.quantity, OrderItem.line_total).order_by(OrderItem.id)
            )
        ).all()
    return str(total), [(q, str(t)) for q, t in lines]


async def test_draft_lines_can_be_changed_and_removed(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI
) -> None:
    draft = await new_draft(client, alice)
    pen = await make_product("Pen", price="0.10")
    ink = await make_product("Ink", price="0.20")
    pen_line = (await add_line(client, alice, draft["id"], pen.product_id, 3)).json()
    ink_line = (await add_line(client, alice, draft["id"], ink.product_id, 1)).json()

    changed = await client.patch(
        f"/api/order-items/{pen_line['id']}", json={"quantity": 5}, headers=alice
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["quantity"], changed.json()["line_total"]) == (5, "0.50")
    assert await _order_row(app) == ("0.70", [(5, "0.50"), (1, "0.20")])

    removed = await client.delete(f"/api/order-items/{ink_line['id']}/", headers=alice)
    assert removed.status_code == 204
    assert (
        await client.get(f"/api/order-items/{ink_line['id']}/", headers=alice)
    ).status_code == 404
    order = (await client.get(f"/api/orders/{draft['id']}/", headers=alice)).json()
    assert (order["total_amount"], [i["name"] for i in order["items"]]) == ("0.50", ["Pen"])
    assert await _order_row(app) == ("0.50", [(5, "0.50")])


async def test_lines_of_placed_orders_and_of_others_do_not_change(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    make_product: Any,
    app: FastAPI,
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product(price="1.00")
    line = (await add_line(client, alice, draft["id"], product.product_id, 2)).json()
    url = f"/api/order-items/{line['id']}/"
    for headers in (bob, staff):  # staff read every order, but edit nobody's draft
        assert (await client.patch(url, json={"quantity": 1}, headers=headers)).status_code == 404
        assert (await client.delete(url, headers=headers)).status_code == 404
    assert (await client.patch(url, json={"quantity": 1})).status_code == 401
    assert (await client.delete("/api/order-items/987654/", headers=alice)).status_code == 404

    await client.post(f"/api/orders/{draft['id']}/place/", headers=alice)
    late = await client.patch(url, json={"quantity": 1}, headers=alice)
    assert (late.status_code, late.json()["current_status"]) == (409, "pending")
    assert (await client.delete(url, headers=alice)).status_code == 409
    assert await _order_row(app) == ("2.00", [(2, "2.00")])


@pytest.mark.parametrize(
    "body",
    [{"quantity": 0}, {"quantity": -1}, {"quantity": 1001}, {"quantity": "2"}, {}, {"price": 1}],
)
async def test_invalid_line_changes_are_422(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, app: FastAPI, body: Any
) -> None:
    draft = await new_draft(client, alice)
    product = await make_product(price="1.00")
    line = (await add_line(client, alice, draft["id"], product.product_id, 2)).json()
    response = await client.patch(f"/api/order-items/{line['id']}/", json=body, headers=alice)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert await _order_row(app) == ("2.00", [(2, "2.00")])
