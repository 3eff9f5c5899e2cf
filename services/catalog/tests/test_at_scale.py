"""At 100k products (loaded by the real seeder): filters and search use indexes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from catalog.db.products import ProductFilter, list_query
from catalog.seed import load
from catalog.settings import CatalogSettings


@pytest.fixture
async def seeded(app: FastAPI, settings: CatalogSettings) -> int:
    loaded = await load(settings, products=100_000, reset=True)
    return loaded.products


def scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index or relation) of every node of a plan."""
    found = [(plan["Node Type"], plan.get("Index Name") or plan.get("Relation Name"))]
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


async def plan_of(app: FastAPI, f: ProductFilter) -> list[tuple[str, str | None]]:
    """The plan of the exact statement the list endpoint runs for this filter."""
    query = list_query(f)
    order = [c.desc() if query.descending else c.asc() for c in query.key_columns]
    async with app.state.engine.connect() as conn:
        compiled = query.stmt.order_by(*order).limit(21).compile(dialect=conn.dialect)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", params)
        plan = result.scalar_one()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return scans(plan[0]["Plan"])


FILTERS = {
    "search": ProductFilter(search="walnut lamp"),
    "category": ProductFilter(category_id=3),
    "category-by-price": ProductFilter(category_id=3, ordering="price"),
    "price-range": ProductFilter(min_price=Decimal("100"), max_price=Decimal("101")),
    "expensive": ProductFilter(min_price=Decimal("2400"), ordering="-price"),
    "by-name": ProductFilter(ordering="name"),
    "sold-out": ProductFilter(in_stock=False),
}


async def test_at_100k_products(seeded: int, client: httpx.AsyncClient, app: FastAPI) -> None:
    """One seeding (about ten seconds) serves every check at this size."""
    async with app.state.engine.connect() as conn:
        products, drift = (
            await conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE p.review_count <> coalesce(r.n, 0)"
                    " OR p.rating_sum <> coalesce(r.s, 0)) FROM catalog.products p LEFT JOIN"
                    " (SELECT product_id, count(*) n, sum(rating) s FROM catalog.reviews"
                    " GROUP BY product_id) r ON r.product_id = p.id"
                )
            )
        ).one()
    assert (products, drift) == (seeded, 0)
    page = (await client.get("/api/products/?limit=100&search=oak")).json()
    assert len(page["results"]) == 100
    assert page["next"]

    for name, f in FILTERS.items():
        plan = await plan_of(app, f)
        # Categories (a few dozen rows) may be scanned; products never.
        assert ("Seq Scan", "products") not in plan, (name, plan)
        assert any(index and index.startswith("ix_products") for _, index in plan), (name, plan)


async def test_seeded_products_are_announced_like_any_other(
    app: FastAPI, settings: CatalogSettings
) -> None:
    """Orders learns seeded products from ProductCreated events, as from a staff write."""
    await load(settings, products=20, reset=True)
    async with app.state.engine.connect() as conn:
        rows = (
            (await conn.execute(text("SELECT envelope FROM catalog.outbox ORDER BY id")))
            .scalars()
            .all()
        )
    assert len(rows) == 20
    assert {r["type"] for r in rows} == {"catalog.ProductCreated"}
    assert [r["payload"]["product_id"] for r in rows] == list(range(1, 21))
    assert all(r["payload"]["active"] for r in rows)
