"""The orders service app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from orders.api import (
    cart_items,
    carts,
    history,
    order_items,
    orders,
    reports,
    wishlist_items,
    wishlists,
)
from orders.db.orders import STATUS_CHANNEL
from orders.events.published import events
from orders.settings import OrdersSettings
from shared.admission import AdmissionMiddleware
from shared.app import create_service_app
from shared.watch import RowWatch

# A checkout from a cart or a new draft (POST /api/orders/), and a draft's placement.
PLACEMENT_PATH = re.compile(r"/api/orders/(?:[0-9]+/place/)?")


def create_app(
    settings: OrdersSettings | None = None, *, jwks_client: httpx.AsyncClient | None = None
) -> FastAPI:
    settings = settings or OrdersSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.status_watch = RowWatch(app.state.engine, STATUS_CHANNEL)
        await app.state.status_watch.start()
        yield
        await app.state.status_watch.close()

    return create_service_app(
        name="orders",
        events=[events],
        title="Highload Shop: orders",
        description="Shopping carts, wishlists, orders and their lifecycle.",
        settings=settings,
        routers=[
            carts.router,
            cart_items.router,
            wishlists.router,
            wishlist_items.router,
            history.router,  # before orders: "history" is not an order id
            orders.router,
            order_items.router,
            reports.router,
        ],
        jwks_client=jwks_client,
        lifespan=lifespan,
        inner_middleware=[
            Middleware(
                AdmissionMiddleware,
                kind="placement",
                limit=settings.max_placements_in_flight,
                queue_seconds=settings.placement_queue_seconds,
                max_queued=settings.max_placements_queued,
                method="POST",
                path=PLACEMENT_PATH,
                detail="Too many orders are being placed right now; retry after Retry-After.",
            )
        ],
    )
