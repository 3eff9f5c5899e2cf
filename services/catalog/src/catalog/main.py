"""The catalog service app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from catalog.api import categories, products, reports, reviews
from catalog.api.fast_reads import CachedReads
from catalog.db.cache import ProductCache
from catalog.db.reports import refresh_category_stats
from catalog.events.published import events
from catalog.settings import CatalogSettings
from shared import periodic
from shared.app import create_service_app


def create_app(
    settings: CatalogSettings | None = None, *, jwks_client: httpx.AsyncClient | None = None
) -> FastAPI:
    settings = settings or CatalogSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.product_cache = ProductCache(
            app.state.cache_redis,
            product_ttl_seconds=settings.product_cache_ttl_seconds,
            list_ttl_seconds=settings.cache_ttl_seconds,
            fill_wait_seconds=settings.cache_fill_wait_seconds,
        )
        refresher = None
        if settings.category_stats_refresh_seconds > 0:
            # Keeps the category statistics report fresh, off the request path.
            refresher = asyncio.create_task(
                periodic.every(
                    settings.category_stats_refresh_seconds,
                    lambda: refresh_category_stats(app.state.engine),
                    name="catalog-category-stats-refresh",
                )
            )
        yield
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    return create_service_app(
        name="catalog",
        events=[events],
        title="Highload Shop: catalog",
        description="Categories, products with full-text search, reviews, stock.",
        settings=settings,
        routers=[categories.router, products.router, reviews.router, reports.router],
        lifespan=lifespan,
        jwks_client=jwks_client,
        # Cached product and list pages are answered before the routing (see fast_reads).
        inner_middleware=[Middleware(CachedReads)],
        public_reads=True,  # searches run on their own small pool
    )
