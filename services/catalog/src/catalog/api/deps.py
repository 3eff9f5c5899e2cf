"""Dependencies of the catalog routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from catalog.db.cache import ProductCache
from catalog.settings import CatalogSettings


async def _cache(request: Request) -> ProductCache:
    cache: ProductCache = request.app.state.product_cache
    return cache


Cache = Annotated[ProductCache, Depends(_cache)]


async def _settings(request: Request) -> CatalogSettings:
    settings: CatalogSettings = request.app.state.settings
    return settings


Settings = Annotated[CatalogSettings, Depends(_settings)]
