"""/api/products/: details, staff writes and their validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from catalog.db.tables import Product


async def test_detail_shape(
    client: httpx.AsyncClient, make_category: Any, make_product: Any
) -> None:
    books = await make_category("Books")
    product = await make_product("Dune", price="12000.99", stock_quantity=3, category_id=books.id)
    response = await client.get(f"/api/products/{product.id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["price"] == "12000.99"
    assert body["stock_quantity"] == 3
    assert body["in_stock"] is True
    assert body["category"] == {"id": books.id, "name": "Books"}
    assert body["rating_avg"] is None
    assert body["review_count"] == 0


@pytest.mark.parametrize("product_id", ["0", "-3", "abc", str(2**64)])
async def test_bad_product_id_is_422(client: httpx.AsyncClient, product_id: str) -> None:
    assert (await client.get(f"/api/products/{product_id}/")).status_code == 422


async def test_unknown_product_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/products/424242/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_staff_create_update_delete(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any, app: FastAPI
) -> None:
    books = await make_category("Books")
    music = await make_category("Music")
    created = await client.post(
        "/api/products/",
        json={
            "name": "Dune",
            "description": "Spice.",
            "price": "9.90",
            "stock_quantity": 5,
            "category_id": books.id,
        },
        headers=staff,
    )
    assert created.status_code == 201
    product = created.json()
    assert product["price"] == "9.90"
    assert product["category"]["name"] == "Books"

    patched = await client.patch(
        f"/api/products/{product['id']}/",
        json={"price": 10, "category_id": music.id, "stock_quantity": 0},
        headers=staff,
    )
    assert patched.status_code == 200
    assert patched.json()["price"] == "10.00"
    assert patched.json()["category"]["name"] == "Music"
    assert patched.json()["in_stock"] is False
    assert patched.json()["name"] == "Dune"

    assert (
        await client.delete(f"/api/products/{product['id']}/", headers=staff)
    ).status_code == 204
    assert (await client.get(f"/api/products/{product['id']}/")).status_code == 404
    assert (
        await client.delete(f"/api/products/{product['id']}/", headers=staff)
    ).status_code == 404
    async with app.state.engine.connect() as conn:
        deleted_at = (await conn.execute(select(Product.deleted_at))).scalar_one()
    assert deleted_at is not None  # kept for reviews and order history


async def test_writes_are_staff_only(
    client: httpx.AsyncClient, alice: dict[str, str], make_product: Any
) -> None:
    product = await make_product()
    body = {"name": "X", "price": "1.00", "stock_quantity": 1, "category_id": product.category_id}
    for method, path, payload in [
        ("POST", "/api/products/", body),
        ("PATCH", f"/api/products/{product.id}/", {"price": "0.01"}),
        ("DELETE", f"/api/products/{product.id}/", None),
    ]:
        assert (await client.request(method, path, json=payload)).status_code == 401
        assert (await client.request(method, path, json=payload, headers=alice)).status_code == 403
    assert (await client.get(f"/api/products/{product.id}/")).json()["price"] == "9.99"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-0.01"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "10000000000.00"}, "price"),
        ({"stock_quantity": -1}, "stock_quantity"),
        ({"stock_quantity": 1.5}, "stock_quantity"),
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"category_id": 999999}, "category_id"),
        ({"category_id": "one"}, "category_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_product_is_422_naming_the_field(
    client: httpx.AsyncClient,
    staff: dict[str, str],
    make_category: Any,
    app: FastAPI,
    change: dict[str, Any],
    field: str,
) -> None:
    books = await make_category()
    body = {"name": "Dune", "price": "9.90", "stock_quantity": 5, "category_id": books.id, **change}
    response = await client.post("/api/products/", json=body, headers=staff)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["errors"][0]["loc"]
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(Product.id))).first() is None


async def test_patch_validation_changes_nothing(
    client: httpx.AsyncClient, staff: dict[str, str], make_product: Any
) -> None:
    product = await make_product(price="5.00")
    for change in ({"price": "-1"}, {"stock_quantity": -5}, {"category_id": 999999}, {"name": ""}):
        response = await client.patch(f"/api/products/{product.id}/", json=change, headers=staff)
        assert response.status_code == 422
    after = (await client.get(f"/api/products/{product.id}/")).json()
    assert after["price"] == "5.00"
    assert after["stock_quantity"] == 10


async def test_malformed_json_is_400(client: httpx.AsyncClient, staff: dict[str, str]) -> None:
    response = await client.post(
        "/api/products/", content=b"{", headers={**staff, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_product_writes_publish_events_with_the_whole_state(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any, app: FastAPI
) -> None:
    from catalog.db.tables import outbox

    books = await make_category("Books")
    created = await client.post(
        "/api/products/",
        json={"name": "Dune", "price": "9.90", "stock_quantity": 5, "category_id": books.id},
        headers={**staff, "X-Request-ID": "create-dune"},
    )
    product_id = created.json()["id"]
    await client.patch(f"/api/products/{product_id}/", json={"price": "8.00"}, headers=staff)
    await client.delete(f"/api/products/{product_id}/", headers=staff)
    # A rejected write publishes nothing.
    await client.patch(f"/api/products/{product_id}/", json={"price": "-1"}, headers=staff)

    async with app.state.engine.connect() as conn:
        rows = (
            (await conn.execute(select(outbox.table.c.envelope).order_by(outbox.table.c.id)))
            .scalars()
            .all()
        )
    assert [r["type"] for r in rows] == [
        "catalog.ProductCreated",
        "catalog.ProductUpdated",
        "catalog.ProductDeleted",
    ]
    assert rows[0]["payload"] == {
        "product_id": product_id,
        "name": "Dune",
        "price": "9.90",
        "stock_quantity": 5,
        "category_id": books.id,
        "active": True,
    }
    assert rows[0]["correlation_id"] == "create-dune"
    assert rows[0]["producer"] == "catalog"
    assert rows[0]["aggregate_id"] == str(product_id)
    assert rows[1]["payload"]["price"] == "8.00"
    assert rows[2]["payload"] == {"product_id": product_id}
