"""Fixtures of the catalog tests: the real app on the test database and Redis, tokens
verified through the users service's JWKS, and factories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from catalog.db.tables import Category, Product
from catalog.main import create_app
from catalog.settings import CatalogSettings
from shared.dbadmin import service_url
from shared.testing import truncate_schema


@pytest.fixture
def settings(test_database: str, redis_url: str) -> CatalogSettings:
    return CatalogSettings(
        environment="test",
        database_url=service_url("catalog", database=test_database),
        redis_url=redis_url,
        jwks_url="http://users/.well-known/jwks.json",
        log_json=False,
        # Tests refresh the report themselves; a timer would add statements to counts.
        category_stats_refresh_seconds=0,
    )


@pytest.fixture
async def app(
    settings: CatalogSettings, test_database: str, users_jwks_client: httpx.AsyncClient
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, jwks_client=users_jwks_client)
    async with app.router.lifespan_context(app):
        yield app
        await app.state.redis.flushdb()
    await truncate_schema(test_database, "catalog")


MakeCategory = Callable[..., Awaitable[Category]]
MakeProduct = Callable[..., Awaitable[Product]]


@pytest.fixture
def make_category(app: FastAPI) -> MakeCategory:
    async def make(name: str = "Books", *, parent_id: int | None = None) -> Category:
        async with app.state.sessionmaker.begin() as session:
            category = Category(name=name, parent_id=parent_id)
            session.add(category)
        return category

    return make


@pytest.fixture
def make_product(app: FastAPI, make_category: MakeCategory) -> MakeProduct:
    async def make(
        name: str = "A product",
        *,
        price: Decimal | str = "9.99",
        stock_quantity: int = 10,
        category_id: int | None = None,
        description: str = "",
        **extra: Any,
    ) -> Product:
        if category_id is None:
            category_id = (await make_category(f"Category for {name}")).id
        async with app.state.sessionmaker.begin() as session:
            product = Product(
                name=name,
                description=description,
                price=Decimal(price),
                stock_quantity=stock_quantity,
                category_id=category_id,
                rating_sum=0,
                review_count=0,
                **extra,
            )
            session.add(product)
        return product

    return make
