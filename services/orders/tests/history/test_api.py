"""`/api/orders/history/`: the projection through the orders service (Postgres store)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from history_support import T0, apply, envelope, order_story
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.history.store import HistoryStore

STAFF_ID, ALICE_ID, BOB_ID = 1, 2, 3
Headers = dict[str, str]


async def fold(app: FastAPI, history_engine: AsyncEngine, events: list[dict[str, Any]]) -> None:
    store: HistoryStore = app.state.history_store
    await apply(store, history_engine, events)


def placed(order_id: int, user_id: int, minute: int) -> dict[str, Any]:
    return envelope(
        "orders.OrderPlaced",
        {
            "order_id": order_id,
            "user_id": user_id,
            "status": "pending",
            "previous_status": None,
            "total_amount": "3.00",
            "currency": "EUR",
            "lines": [
                {
                    "product_id": 1,
                    "name": "Pen",
                    "quantity": 3,
                    "unit_price": "1",
                    "line_total": "3.00",
                }
            ],
            "expires_at": None,
        },
        at=T0 + timedelta(minutes=minute),
    )


async def test_own_history_newest_first_with_status_lines_and_payment(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, history_engine: AsyncEngine
) -> None:
    await fold(app, history_engine, order_story(11, ALICE_ID, start=T0))
    await fold(
        app,
        history_engine,
        order_story(12, ALICE_ID, start=T0 + timedelta(days=1), outcome="cancelled"),
    )
    await fold(app, history_engine, order_story(13, BOB_ID, start=T0))

    response = await client.get("/api/orders/history/", headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [o["order_id"] for o in body["results"]] == [12, 11]
    newest = body["results"][0]
    assert (newest["status"], newest["total"], newest["currency"]) == ("cancelled", "22.50", "EUR")
    assert newest["lines"][0] == {
        "product_id": 7,
        "name": "Lamp",
        "quantity": 1,
        "unit_price": "10.50",
    }
    assert newest["payment"] == {
        "outcome": "succeeded",
        "method": "card",
        "card_brand": "visa",
        "card_last4": "4242",
    }
    assert body["next"] is None
    assert body["previous"] is None


async def test_pages_follow_the_cursor_links(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, history_engine: AsyncEngine
) -> None:
    await fold(app, history_engine, [placed(n, ALICE_ID, minute=n) for n in range(1, 8)])

    first = (await client.get("/api/orders/history/?limit=3", headers=alice)).json()
    assert [o["order_id"] for o in first["results"]] == [7, 6, 5]
    second = (await client.get(first["next"], headers=alice)).json()
    assert [o["order_id"] for o in second["results"]] == [4, 3, 2]
    third = (await client.get(second["next"], headers=alice)).json()
    assert [o["order_id"] for o in third["results"]] == [1]
    assert third["next"] is None
    back = (await client.get(third["previous"], headers=alice)).json()
    assert [o["order_id"] for o in back["results"]] == [4, 3, 2]

    bad = await client.get("/api/orders/history/?cursor=nonsense", headers=alice)
    assert bad.status_code == 422


async def test_timeline_of_own_order_and_404_for_someone_elses(
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    staff: Headers,
    history_engine: AsyncEngine,
) -> None:
    await fold(app, history_engine, order_story(21, ALICE_ID))

    response = await client.get("/api/orders/history/21/", headers=alice)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [e["type"] for e in events][:2] == ["orders.OrderPlaced", "orders.OrderAwaitingPayment"]
    assert events[-1]["status"] == "completed"

    assert (await client.get("/api/orders/history/21/", headers=bob)).status_code == 404
    assert (await client.get("/api/orders/history/999/", headers=alice)).status_code == 404
    assert (await client.get("/api/orders/history/21/", headers=staff)).status_code == 200
    assert (await client.get("/api/orders/history/21")).status_code == 401


async def test_staff_pass_user_id_and_customers_cannot(
    app: FastAPI,
    client: httpx.AsyncClient,
    bob: Headers,
    staff: Headers,
    history_engine: AsyncEngine,
) -> None:
    await fold(app, history_engine, [placed(31, ALICE_ID, minute=1)])

    as_staff = await client.get(f"/api/orders/history/?user_id={ALICE_ID}", headers=staff)
    assert [o["order_id"] for o in as_staff.json()["results"]] == [31]
    as_bob = await client.get(f"/api/orders/history/?user_id={ALICE_ID}", headers=bob)
    assert as_bob.status_code == 404
    own = await client.get(f"/api/orders/history/?user_id={BOB_ID}", headers=bob)
    assert own.json()["results"] == []
