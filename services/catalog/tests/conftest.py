"""Fixtures of the catalog tests: the real app on the test database and Redis, tokens
verified through the users service's JWKS, and factories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from catalog.db.tables import Category, Product
from catalog.main import create_app
from catalog.settings import CatalogSettings
from shared.testing import ServiceUnderTest, service_fixtures

settings, app = service_fixtures(
    ServiceUnderTest(
        "catalog",
        CatalogSettings,
        create_app,
        # Tests refresh the report themselves; a timer would add statements to counts.
        defaults={"category_stats_refresh_seconds": 0},
    )
)


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
