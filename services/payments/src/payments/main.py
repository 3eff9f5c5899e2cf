"""The payments service app. Payments are processed by the worker (payments.worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from payments.api import payments
from payments.db import orders
from payments.events.published import events
from payments.provider.simulated import SimulatedProvider
from payments.settings import PaymentsSettings
from shared.app import create_service_app
from shared.watch import RowWatch


def create_app(
    settings: PaymentsSettings | None = None, *, jwks_client: httpx.AsyncClient | None = None
) -> FastAPI:
    settings = settings or PaymentsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The API only tokenizes through the provider; charging is the worker's.
        app.state.provider = SimulatedProvider(
            app.state.engine, latency_s=settings.provider_latency_seconds
        )
        app.state.order_watch = RowWatch(app.state.engine, orders.REPLICA_CHANNEL)
        await app.state.order_watch.start()
        yield
        await app.state.order_watch.close()

    return create_service_app(
        name="payments",
        title="Highload Shop: payments",
        description="Payments of orders by card, PayPal or bank transfer, and refunds.",
        settings=settings,
        routers=[payments.router],
        lifespan=lifespan,
        jwks_client=jwks_client,
        events=[events],
    )
