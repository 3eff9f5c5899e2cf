"""Idempotency-Key on POST /api/orders/: a retry gets the same order, never a second one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from orders.db.tables import IdempotencyKey, Order
from orders.domain import checkout
from shared import idempotency

Headers = dict[str, str]


async def count_orders(app: FastAPI) -> int:
    async with app.state.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Order)) or 0)


async def test_same_key_same_body_returns_the_same_order(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    cart = await fill_cart(alice, (await make_product(price="4.20"), 2))
    headers = {**alice, "Idempotency-Key": "checkout-1"}

    first = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)
    retry = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json() == first.json()
    assert retry.json()["total_amount"] == "8.40"
    assert await count_orders(app) == 1


async def test_same_key_other_body_is_422(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    cart = await fill_cart(alice, (await make_product(), 1))
    headers = {**alice, "Idempotency-Key": "k"}
    assert (
        await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)
    ).status_code == 201

    other = await client.post("/api/orders/", json={}, headers=headers)

    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await count_orders(app) == 1


async def test_keys_are_scoped_to_the_user(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    make_product: Any,
    fill_cart: Any,
    app: FastAPI,
) -> None:
    product = await make_product()
    alices = await fill_cart(alice, (product, 1))
    bobs = await fill_cart(bob, (product, 1))
    a = await client.post(
        "/api/orders/", json={"cart_id": alices["id"]}, headers={**alice, "Idempotency-Key": "same"}
    )
    b = await client.post(
        "/api/orders/", json={"cart_id": bobs["id"]}, headers={**bob, "Idempotency-Key": "same"}
    )
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["user_id"] == 3


async def test_failed_request_does_not_burn_the_key(
    client: httpx.AsyncClient,
    alice: Headers,
    alice_cart: dict[str, Any],
    make_product: Any,
    app: FastAPI,
) -> None:
    headers = {**alice, "Idempotency-Key": "try-again"}
    empty = await client.post("/api/orders/", json={"cart_id": alice_cart["id"]}, headers=headers)
    assert empty.status_code == 422
    async with app.state.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    product = await make_product()
    await client.post(
        "/api/cart-items/",
        json={"cart_id": alice_cart["id"], "product_id": product.product_id, "quantity": 1},
        headers=alice,
    )
    done = await client.post("/api/orders/", json={"cart_id": alice_cart["id"]}, headers=headers)
    assert done.status_code == 201


async def test_twenty_concurrent_retries_make_one_order(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    cart = await fill_cart(alice, (await make_product(price="1.10"), 3))
    headers = {**alice, "Idempotency-Key": "burst"}

    responses = await asyncio.gather(
        *(
            client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)
            for _ in range(20)
        )
    )

    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert {r.json()["total_amount"] for r in responses} == {"3.30"}
    assert await count_orders(app) == 1


async def test_drafts_honour_the_key_too(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI
) -> None:
    headers = {**alice, "Idempotency-Key": "draft-1"}
    first = await client.post("/api/orders/", json={}, headers=headers)
    again = await client.post("/api/orders/", headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert await count_orders(app) == 1


async def test_invalid_keys_are_422(client: httpx.AsyncClient, alice: Headers) -> None:
    for key in ("", "x" * 256, "has space"):
        response = await client.post(
            "/api/orders/", json={}, headers={**alice, "Idempotency-Key": key}
        )
        assert response.status_code == 422, key


async def test_keys_older_than_their_ttl_are_purged(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from orders.db import idempotency

    for key in ("old", "new"):
        cart = await fill_cart(alice, (await make_product(), 1))
        headers = {**alice, "Idempotency-Key": key}
        response = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)
        assert response.status_code == 201
    now = datetime.now(UTC)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "old")
            .values(created_at=now - timedelta(days=2))
        )

    assert await idempotency.purge(app.state.engine, before=now - timedelta(days=1)) == 1
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(IdempotencyKey.key))).scalars().all() == ["new"]
    assert await count_orders(app) == 2  # the orders themselves stay


async def _draft_with_a_line(client: httpx.AsyncClient, alice: Headers, make_product: Any) -> int:
    draft = (await client.post("/api/orders/", json={}, headers=alice)).json()
    product = await make_product(price="2.50")
    line = {"order_id": draft["id"], "product_id": product.product_id, "quantity": 2}
    assert (await client.post("/api/order-items/", json=line, headers=alice)).status_code == 201
    return int(draft["id"])


async def test_placing_with_a_key_twice_replays_the_first_answer(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    order_id = await _draft_with_a_line(client, alice, make_product)
    headers = {**alice, "Idempotency-Key": "place-1"}

    first = await client.post(f"/api/orders/{order_id}/place/", headers=headers)
    retry = await client.post(f"/api/orders/{order_id}/place/", headers=headers)
    without_key = await client.post(f"/api/orders/{order_id}/place/", headers=alice)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert first.json()["status"] == "pending"
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert without_key.status_code == 409  # placed already: only the key replays


async def test_a_key_of_one_operation_is_refused_for_another(
    client: httpx.AsyncClient, alice: Headers, make_product: Any
) -> None:
    order_id = await _draft_with_a_line(client, alice, make_product)
    other_id = await _draft_with_a_line(client, alice, make_product)
    headers = {**alice, "Idempotency-Key": "one-use"}
    assert (await client.post(f"/api/orders/{order_id}/place/", headers=headers)).status_code == 200

    another_order = await client.post(f"/api/orders/{other_id}/place/", headers=headers)
    a_creation = await client.post("/api/orders/", json={}, headers=headers)

    for refused in (another_order, a_creation):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["type"] == "idempotency_key_reused"


async def test_a_retry_while_the_first_is_running_is_409_once_its_wait_is_over(
    client: httpx.AsyncClient, alice: Headers, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkout, "IN_FLIGHT_WAIT_SECONDS", 0.1)
    async with app.state.sessionmaker.begin() as session:
        # Another request holding alice's key (user 2) and never finishing: its lock.
        lock = idempotency.lock_id("orders", user_id=2, key="stuck")
        await session.execute(select(func.pg_advisory_xact_lock(lock)))
        response = await client.post(
            "/api/orders/", json={}, headers={**alice, "Idempotency-Key": "stuck"}
        )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_in_use"
    assert response.headers["Retry-After"] == "1"  # the same request again, later
    assert await count_orders(app) == 0
