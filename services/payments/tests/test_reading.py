"""GET /api/payments/ and /api/payments/{id}/: your own (staff: all), filtered, paginated."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from payments_support import BOB_ID, Headers, MakeOrder, card_body, with_key

from shared.testing import count_statements

URL = "/api/payments/"


async def pay(client: httpx.AsyncClient, headers: Headers, order_id: int) -> int:
    response = await client.post(URL, json=card_body(order_id), headers=with_key(headers))
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def test_users_see_their_own_and_staff_everyones(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, staff: Headers, make_order: MakeOrder
) -> None:
    a1 = await pay(client, alice, await make_order())
    a2 = await pay(client, alice, await make_order())
    b1 = await pay(client, bob, await make_order(user_id=BOB_ID))

    async def ids(headers: Headers, query: str = "") -> list[int]:
        response = await client.get(f"{URL}{query}", headers=headers)
        assert response.status_code == 200
        return [p["id"] for p in response.json()["results"]]

    assert await ids(alice) == [a2, a1]
    assert await ids(bob) == [b1]
    assert await ids(staff) == [b1, a2, a1]
    assert (await client.get(f"{URL}{b1}/", headers=alice)).status_code == 404
    assert (await client.get(f"{URL}{b1}/", headers=staff)).json()["id"] == b1
    assert (await client.get(f"{URL}{a1}/", headers=alice)).json()["status"] == "pending"
    assert (await client.get(f"{URL}999999/", headers=alice)).status_code == 404
    assert (await client.get(URL)).status_code == 401


async def test_filter_by_order_and_paginate(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder
) -> None:
    orders = [await make_order() for _ in range(5)]
    paid = [await pay(client, alice, order_id) for order_id in orders]
    only = await client.get(f"{URL}?order_id={orders[2]}", headers=alice)
    assert [p["id"] for p in only.json()["results"]] == [paid[2]]
    first = (await client.get(f"{URL}?limit=2", headers=alice)).json()
    second = (await client.get(first["next"], headers=alice)).json()
    assert [p["id"] for p in first["results"] + second["results"]] == paid[::-1][:4]
    assert (await client.get(f"{URL}?order_id=0", headers=alice)).status_code == 422


async def test_the_list_runs_a_fixed_number_of_statements(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    counts = []
    for _ in range(2):
        for _ in range(5):
            await pay(client, alice, await make_order())
        with count_statements(app.state.engine) as counter:
            assert (await client.get(URL, headers=alice)).status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1] == 1
