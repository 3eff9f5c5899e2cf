"""The consumer of orders.events: the payable-order replica, and refunds on cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from payments_support import (
    ALICE_ID,
    Headers,
    card_body,
    drain,
    payment_row,
    provider_charges,
    publish_order_event,
    published,
    with_key,
)

from payments.db import orders
from payments.provider.simulated import SimulatedProvider
from payments.worker import Worker
from shared.testing import count_statements

URL = "/api/payments/"


async def replica_status(app: FastAPI, order_id: int) -> str | None:
    async with app.state.sessionmaker() as session:
        order = await orders.get(session, order_id)
        return None if order is None else order.status


async def place_and_pay(
    app: FastAPI, client: httpx.AsyncClient, worker: Worker, alice: Headers, order_id: int
) -> int:
    """The saga up to `paid`, as the orders service's events tell it."""
    await publish_order_event(
        app,
        "orders.OrderPlaced",
        order_id=order_id,
        status="pending",
        previous_status=None,
        lines=[],
        expires_at=None,
    )
    await publish_order_event(
        app,
        "orders.OrderAwaitingPayment",
        order_id=order_id,
        status="awaiting_payment",
        previous_status="pending",
        expires_at=None,
    )
    await drain(worker)
    response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert response.status_code == 202, response.text
    await drain(worker)
    await publish_order_event(
        app,
        "orders.OrderPaid",
        order_id=order_id,
        status="paid",
        previous_status="awaiting_payment",
    )
    await drain(worker)
    return int(response.json()["id"])


async def test_order_events_keep_the_replica(
    app: FastAPI, client: httpx.AsyncClient, worker: Worker, alice: Headers
) -> None:
    payment_id = await place_and_pay(app, client, worker, alice, 501)
    assert await replica_status(app, 501) == "paid"
    assert (await payment_row(app, payment_id)).status == "succeeded"
    paid_again = await client.post(URL, json=card_body(501), headers=with_key(alice))
    assert (paid_again.status_code, paid_again.json()["code"]) == (409, "order_already_paid")


async def test_an_older_event_never_overwrites_a_newer_one(app: FastAPI, worker: Worker) -> None:
    now = datetime.now(UTC)
    await publish_order_event(
        app,
        "orders.OrderCancelled",
        order_id=502,
        status="cancelled",
        previous_status="awaiting_payment",
        reason="expired",
        occurred_at=now,
    )
    await publish_order_event(
        app,
        "orders.OrderAwaitingPayment",
        order_id=502,
        status="awaiting_payment",
        previous_status="pending",
        expires_at=None,
        occurred_at=now - timedelta(seconds=5),
    )
    await drain(worker)
    assert await replica_status(app, 502) == "cancelled"


async def test_an_order_change_reaches_the_replica_in_one_round_trip(
    app: FastAPI, worker: Worker
) -> None:
    """Every order event but a cancellation only moves the replica, with an upsert that
    keeps the newest version: it runs in autocommit, no BEGIN, inbox row or COMMIT."""
    await drain(worker)
    await publish_order_event(
        app, "orders.OrderPlaced", order_id=505, status="pending", previous_status=None
    )
    with count_statements(app.state.engine) as counted:
        assert await worker.orders_consumer.poll() == 1
    # The consumer checks the database before it reclaims (every 50 ms in these tests).
    checks = counted.statements.count("SELECT 1")
    handled = [s for s in counted.statements if s != "SELECT 1"]
    assert [s.split(" (")[0] for s in handled] == ["INSERT INTO payments.orders"], handled
    assert counted.transactions == checks
    assert await replica_status(app, 505) == "pending"


async def test_cancelling_a_paid_order_refunds_it_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    worker: Worker,
    alice: Headers,
    provider: SimulatedProvider,
) -> None:
    payment_id = await place_and_pay(app, client, worker, alice, 503)
    for _ in range(2):  # the second is a duplicate cancellation (another event id)
        await publish_order_event(
            app,
            "orders.OrderCancelled",
            order_id=503,
            status="cancelled",
            previous_status="paid",
            reason="customer",
        )
        await drain(worker)

    payment = await payment_row(app, payment_id)
    assert payment.status == "refunded"
    assert payment.refund_id is not None
    assert payment.refund_id.startswith("re_sim_")
    [refund] = await provider_charges(app, "refund")
    assert (refund.reference, refund.charge_reference) == (payment.refund_id, payment.charge_id)
    assert provider.refund_calls == 1
    assert await published(app, "payments.PaymentRefunded") == [
        (
            "payments.PaymentRefunded",
            {
                "payment_id": payment_id,
                "order_id": 503,
                "user_id": ALICE_ID,
                "amount": "120.50",
                "currency": "EUR",
                "method": "card",
                "refund_id": payment.refund_id,
            },
        )
    ]
    shown = await client.get(f"{URL}{payment_id}/", headers=alice)
    assert shown.json()["status"] == "refunded"


async def test_cancelling_an_unpaid_order_refunds_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    worker: Worker,
    alice: Headers,
    provider: SimulatedProvider,
) -> None:
    await publish_order_event(
        app,
        "orders.OrderAwaitingPayment",
        order_id=504,
        status="awaiting_payment",
        previous_status="pending",
        expires_at=None,
    )
    await drain(worker)
    declined = card_body(504, number="4000000000000002")
    response = await client.post(URL, json=declined, headers=with_key(alice))
    await drain(worker)
    await publish_order_event(
        app,
        "orders.OrderCancelled",
        order_id=504,
        status="cancelled",
        previous_status="payment_failed",
        reason="expired",
    )
    await drain(worker)
    assert (await payment_row(app, response.json()["id"])).status == "failed"
    assert provider.refund_calls == 0
    assert await published(app, "payments.PaymentRefunded") == []
