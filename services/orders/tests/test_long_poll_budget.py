"""A long poll spends one time budget on all its waits: its reads wait for a pooled
connection, and with every connection taken it answers 503 busy once its `wait` is over,
not after the pool's own (much longer) wait, so it always answers before nginx's 30 s."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from orders.settings import OrdersSettings

Headers = dict[str, str]
POOL_SIZE = 2
POOL_WAIT_S = 120.0  # far beyond the poll's wait: only the poll's own budget can end it
WAIT_S = 1


@pytest.fixture
def settings(settings: OrdersSettings) -> OrdersSettings:
    return settings.model_copy(
        update={"db_pool_size": POOL_SIZE, "db_pool_timeout_seconds": POOL_WAIT_S}
    )


async def test_a_long_poll_with_no_connection_free_answers_busy_when_its_wait_ends(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any, app: FastAPI
) -> None:
    cart = await fill_cart(alice, (await make_product(), 1))
    order = (await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)).json()
    url = f"/api/orders/{order['id']}/?changed_from=pending&wait={WAIT_S}"

    async with AsyncExitStack() as held:
        for _ in range(POOL_SIZE):  # every connection of the replica's pool, checked out
            conn = await held.enter_async_context(app.state.engine.connect())
            await conn.execute(text("SELECT 1"))
        # Bounded far below the pool's wait: a poll that waited for the pool fails here.
        refused = await asyncio.wait_for(client.get(url, headers=alice), POOL_WAIT_S / 4)

    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/problems/busy")
    assert int(refused.headers["Retry-After"]) >= 1
    # With a connection free again, the same poll reads the order.
    again = await client.get(url, headers=alice)
    assert again.status_code == 200
    assert again.json()["id"] == order["id"]
