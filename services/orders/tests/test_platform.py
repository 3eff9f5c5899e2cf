"""The orders app as a whole: health, and an OpenAPI document partners can generate from."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from orders.settings import OrdersSettings


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_openapi_names_every_operation(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {
        op["operationId"]
        for path in document["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and "operationId" in op
    }
    assert {
        "shopping-carts-list_carts",
        "shopping-carts-open_cart",
        "cart-items-add_cart_item",
        "wishlists-create_wishlist",
        "wishlist-items-add_wishlist_item",
        "orders-create_order",
        "orders-place_order",
        "orders-cancel_order",
        "orders-ship_order",
        "orders-complete_order",
        "order-items-add_order_item",
        "order-items-list_order_items",
    } <= operations
    money = document["components"]["schemas"]["OrderOut"]["properties"]["total_amount"]
    assert money["type"] == "string"
    create = document["paths"]["/api/orders/"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}


def test_production_refuses_the_default_database_password() -> None:
    with pytest.raises(ValidationError):
        OrdersSettings(environment="production")


@pytest.mark.parametrize("currency", ["eur", "EURO", ""])
def test_currency_is_an_iso_code(currency: str) -> None:
    with pytest.raises(ValidationError):
        OrdersSettings(currency=currency)
