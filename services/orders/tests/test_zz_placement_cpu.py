"""Throwaway: CPU of this process per keyed checkout from a cart (not committed)."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

Headers = dict[str, str]


async def test_cpu_per_checkout(
    client: httpx.AsyncClient, alice: Headers, make_product: Any, fill_cart: Any
) -> None:
    products = [await make_product(price="1.00") for _ in range(2)]
    rounds = int(os.environ.get("ROUNDS", "200"))
    spent = 0.0
    for i in range(rounds):
        cart = await fill_cart(alice, (products[0], 1), (products[1], 2))
        started = time.process_time()
        response = await client.post(
            "/api/orders/",
            json={"cart_id": cart["id"]},
            headers={**alice, "Idempotency-Key": f"cpu-{i}"},
        )
        spent += time.process_time() - started
        assert response.status_code == 201, response.text
        order = response.json()
        cancel = await client.post(f"/api/orders/{order['id']}/cancel/", headers=alice)
        assert cancel.status_code == 200
    print(f"\nCPU per checkout: {spent / rounds * 1e6:.0f} us over {rounds}")
