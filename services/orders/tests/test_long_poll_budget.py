"""A long poll spends one time budget on all its waits: its reads wait for a pooled
connection, and with every connection taken it answers 503 busy once its `wait` (and
`LAST_READ_SECONDS` after it) is over, not after the pool's own (much longer) wait, so it
always answers before nginx's 30 s."""

from __future__ import annotations

import asyncio
import time
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


async def test_a_long_poll_that_waited_before_the_app_saw_it_waits_that_much_less(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any
) -> None:
    """Its `wait` counts from when the gateway passed it on: a poll that sat 24.5 s of its
    25 s behind a busy loop answers (the order as it is) instead of waiting 25 s more and
    passing nginx's 30 s read timeout."""
    cart = await fill_cart(alice, (await make_product(), 1))
    order = (await client.post("/api/orders/", json={"cart_id": cart["id"]}, headers=alice)).json()
    url = f"/api/orders/{order['id']}/?changed_from=pending&wait=25"
    late = {**alice, "X-Request-Start": f"t={time.time() - 24.5:.3f}"}
    answer = await asyncio.wait_for(client.get(url, headers=late), 15)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending"
