"""Placements beyond `max_placements_in_flight` wait their turn and are served in the
order they arrived, each as soon as a slot frees, without a retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text

from orders.settings import OrdersSettings
from shared.testing import bearer, eventually_async

WAIT_S = 120.0
BUYER_IDS = (30, 31, 32)


@pytest.fixture
def settings(settings: OrdersSettings) -> OrdersSettings:
    return settings.model_copy(
        update={
            "db_pool_size": 1,
            "db_pool_timeout_seconds": WAIT_S,
            "placement_budget_seconds": WAIT_S,
            "max_placements_in_flight": 1,
            "placement_queue_seconds": WAIT_S,
        }
    )


async def _gauge_is(name: str, value: float) -> bool:
    return (REGISTRY.get_sample_value(name, {"kind": "placement"}) or 0.0) == value


async def test_queued_placements_are_served_in_arrival_order(
    client: httpx.AsyncClient,
    mint_token: Callable[..., str],
    make_product: Any,
    fill_cart: Any,
    app: FastAPI,
) -> None:
    product = await make_product()
    buyers = [bearer(mint_token(user_id)) for user_id in BUYER_IDS]
    carts = [await fill_cart(headers, (product, 1)) for headers in buyers]

    def checkout(i: int) -> Any:
        return client.post("/api/orders/", json={"cart_id": carts[i]["id"]}, headers=buyers[i])

    placements = []
    async with app.state.engine.connect() as held:  # the pool's only connection
        await held.execute(text("SELECT 1"))
        placements.append(asyncio.create_task(checkout(0)))
        await eventually_async(lambda: _gauge_is("shop_admission_in_flight", 1), what="admitted")
        for i in (1, 2):  # each queued behind the ones before it
            placements.append(asyncio.create_task(checkout(i)))
            queued = lambda i=i: _gauge_is("shop_admission_queued", i)  # noqa: E731
            await eventually_async(queued, what=f"{i} queued")
    answers = [await task for task in placements]

    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    ids = [a.json()["id"] for a in answers]
    assert ids == sorted(ids)  # each placed after the one before it ended
    assert [a.json()["user_id"] for a in answers] == list(BUYER_IDS)
    assert await _gauge_is("shop_admission_queued", 0)
    assert await _gauge_is("shop_admission_in_flight", 0)
