"""Fixtures of the orders tests: the real app on the test database and Redis, tokens
verified through the users service's JWKS, and factories."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from orders.db.replicas import upsert_product
from orders.db.tables import Order, ProductReplica
from orders.main import create_app
from orders.settings import OrdersSettings
from shared.testing import ServiceUnderTest, service_fixtures

Headers = dict[str, str]

settings, app = service_fixtures(ServiceUnderTest("orders", OrdersSettings, create_app))


MakeProduct = Callable[..., Awaitable[ProductReplica]]
_product_ids = itertools.count(1000)


@pytest.fixture
def make_product(app: FastAPI) -> MakeProduct:
    """A product in the local replica, written as a catalog event handler will write it."""

    async def make(
        name: str = "A product",
        *,
        price: Decimal | str = "9.99",
        active: bool = True,
        product_id: int | None = None,
        version: datetime | None = None,
    ) -> ProductReplica:
        product_id = product_id or next(_product_ids)
        async with app.state.sessionmaker.begin() as session:
            await upsert_product(
                session,
                product_id=product_id,
                name=name,
                price=Decimal(price),
                active=active,
                version=version or datetime.now(UTC),
            )
            return (
                await session.execute(
                    select(ProductReplica).where(ProductReplica.product_id == product_id)
                )
            ).scalar_one()

    return make


@pytest.fixture
async def alice_cart(client: httpx.AsyncClient, alice: Headers) -> dict[str, Any]:
    response = await client.post("/api/shopping-carts/", headers=alice)
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


FillCart = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def fill_cart(client: httpx.AsyncClient) -> FillCart:
    """Open the user's cart and put `(product, quantity)` pairs in it, through the API."""

    async def fill(headers: Headers, *lines: tuple[ProductReplica, int]) -> dict[str, Any]:
        cart = (await client.post("/api/shopping-carts/", headers=headers)).json()
        for product, quantity in lines:
            response = await client.post(
                "/api/cart-items/",
                json={
                    "cart_id": cart["id"],
                    "product_id": product.product_id,
                    "quantity": quantity,
                },
                headers=headers,
            )
            assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = (
            await client.get(f"/api/shopping-carts/{cart['id']}/", headers=headers)
        ).json()
        return body

    return fill


PlaceOrder = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def place_order(
    client: httpx.AsyncClient, make_product: MakeProduct, fill_cart: FillCart
) -> PlaceOrder:
    """A pending order of the user's, made from a cart of one product."""

    async def place(headers: Headers, *, price: str = "10.00", quantity: int = 1) -> dict[str, Any]:
        product = await make_product(price=price)
        cart = await fill_cart(headers, (product, quantity))
        response = await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=headers)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return place


@pytest.fixture
def order_row(app: FastAPI) -> Callable[[int], Awaitable[Order]]:
    """The order as stored, read outside any request."""

    async def read(order_id: int) -> Order:
        async with app.state.sessionmaker() as session:
            return (await session.execute(select(Order).where(Order.id == order_id))).scalar_one()

    return read
