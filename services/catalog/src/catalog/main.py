"""The catalog service app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from catalog.api import categories, products, reviews
from catalog.db.cache import ProductCache
from catalog.settings import CatalogSettings
from shared.app import create_service_app


def create_app(
    settings: CatalogSettings | None = None, *, jwks_client: httpx.AsyncClient | None = None
) -> FastAPI:
    settings = settings or CatalogSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.product_cache = ProductCache(
            app.state.redis,
            ttl_seconds=settings.cache_ttl_seconds,
            fill_wait_seconds=settings.cache_fill_wait_seconds,
        )
        yield

    return create_service_app(
        name="catalog",
        title="Highload Shop: catalog",
        description="Categories, products with full-text search, reviews, stock.",
        settings=settings,
        routers=[categories.router, products.router, reviews.router],
        lifespan=lifespan,
        jwks_client=jwks_client,
    )
