"""/api/reports/low-stock/ and /api/reports/category-stats/ (staff only)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from catalog.db.reports import refresh_category_stats


@pytest.mark.parametrize("path", ["/api/reports/low-stock/", "/api/reports/category-stats/"])
async def test_reports_are_staff_only(
    client: httpx.AsyncClient, alice: dict[str, str], path: str
) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=alice)).status_code == 403


async def test_low_stock(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any, make_product: Any
) -> None:
    category = await make_category()
    for name, stock in [("Plenty", 50), ("Few", 3), ("None", 0), ("Edge", 10), ("Eleven", 11)]:
        await make_product(name, stock_quantity=stock, category_id=category.id)
    default = (await client.get("/api/reports/low-stock/", headers=staff)).json()
    assert [p["name"] for p in default["results"]] == ["None", "Few", "Edge"]
    strict = (await client.get("/api/reports/low-stock/?threshold=0", headers=staff)).json()
    assert [p["name"] for p in strict["results"]] == ["None"]
    paged = (await client.get("/api/reports/low-stock/?limit=2", headers=staff)).json()
    assert [p["name"] for p in paged["results"]] == ["None", "Few"]
    assert paged["next"]
    bad = await client.get("/api/reports/low-stock/?threshold=-1", headers=staff)
    assert bad.status_code == 422


async def test_category_stats(
    client: httpx.AsyncClient,
    app: FastAPI,
    staff: dict[str, str],
    make_category: Any,
    make_product: Any,
) -> None:
    books = await make_category("Books")
    empty = await make_category("Empty")
    await make_product("A", price="10.00", stock_quantity=2, category_id=books.id)
    await make_product("B", price="15.01", stock_quantity=5, category_id=books.id)
    assert await refresh_category_stats(app.state.engine)

    stats = (await client.get("/api/reports/category-stats/", headers=staff)).json()["results"]
    by_id = {s["category_id"]: s for s in stats}
    assert by_id[books.id]["product_count"] == 2
    assert by_id[books.id]["total_stock"] == 7
    assert by_id[books.id]["average_price"] == "12.51"
    assert by_id[books.id]["refreshed_at"]
    assert by_id[empty.id] | {"refreshed_at": None} == {
        "category_id": empty.id,
        "category_name": "Empty",
        "product_count": 0,
        "total_stock": 0,
        "average_price": None,
        "refreshed_at": None,
    }
