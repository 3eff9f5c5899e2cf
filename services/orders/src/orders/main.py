"""The orders service app."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from orders.api import cart_items, carts, order_items, orders, wishlist_items, wishlists
from orders.settings import OrdersSettings
from shared.app import create_service_app


def create_app(
    settings: OrdersSettings | None = None, *, jwks_client: httpx.AsyncClient | None = None
) -> FastAPI:
    settings = settings or OrdersSettings()
    return create_service_app(
        name="orders",
        title="Highload Shop: orders",
        description="Shopping carts, wishlists, orders and their lifecycle.",
        settings=settings,
        routers=[
            carts.router,
            cart_items.router,
            wishlists.router,
            wishlist_items.router,
            orders.router,
            order_items.router,
        ],
        jwks_client=jwks_client,
    )
