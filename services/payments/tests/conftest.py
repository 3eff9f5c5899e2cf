"""Fixtures of the payments tests: the real app and worker parts on the test database and
Redis, tokens verified through the users service's JWKS, and factories."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI
from payments_support import ALICE_ID, MakeOrder

from payments.db import orders
from payments.main import create_app
from payments.provider.simulated import SimulatedProvider
from payments.settings import PaymentsSettings
from payments.worker import Worker, build_worker
from shared.events.settings import EventSettings
from shared.testing import ServiceUnderTest, service_fixtures

_order_ids = itertools.count(1001)


settings, app = service_fixtures(
    ServiceUnderTest(
        "payments",
        PaymentsSettings,
        create_app,
        defaults={
            "provider_latency_seconds": 0,
            "provider_backoff_seconds": 0,
            # A refused payment (unknown order, still pending) answers after this wait.
            "order_wait_seconds": 0.2,
            "replica_name": "tests",
            "events": EventSettings(
                consumer_block_seconds=0.01, claim_idle_seconds=0.05, claim_interval_seconds=0.05
            ),
        },
    )
)


@pytest.fixture
def make_order(app: FastAPI) -> MakeOrder:
    """An order in the replica, as the orders service's events would leave it."""

    async def make(
        *,
        user_id: int = ALICE_ID,
        total: str = "120.50",
        status: str = "awaiting_payment",
        currency: str = "EUR",
        order_id: int | None = None,
    ) -> int:
        order_id = order_id or next(_order_ids)
        async with app.state.sessionmaker.begin() as session:
            await orders.apply(
                session,
                order_id=order_id,
                user_id=user_id,
                total_amount=Decimal(total),
                currency=currency,
                status=status,
                version=datetime.now(UTC),
            )
        return order_id

    return make


@pytest.fixture
def provider(app: FastAPI, settings: PaymentsSettings) -> SimulatedProvider:
    return SimulatedProvider(app.state.engine, latency_s=settings.provider_latency_seconds)


@pytest.fixture
async def worker(
    app: FastAPI, settings: PaymentsSettings, provider: SimulatedProvider
) -> AsyncIterator[Worker]:
    """The worker's relay and consumers, driven step by step with `drain()`."""
    worker = build_worker(
        settings, engine=app.state.engine, redis=app.state.redis, provider=provider
    )
    await worker.orders_consumer.start()
    await worker.processor.start()
    yield worker
    await worker.relay.close()
