"""POST /api/payments/: 202 with a pending payment, the order's rules, idempotency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from payments_support import (
    ALICE_ID,
    BOB_ID,
    Headers,
    MakeOrder,
    card_body,
    count_payments,
    drain,
    payment_row,
    provider_charges,
    published,
    with_key,
)
from prometheus_client import REGISTRY
from sqlalchemy import update

from payments.db import idempotency
from payments.db.tables import IdempotencyRecord
from payments.provider.simulated import SimulatedProvider
from payments.worker import Worker
from shared.testing import count_statements, eventually_async

URL = "/api/payments/"
UNKNOWN_ORDER_ID = 990_001  # no factory hands it out (they count from 1001)


async def test_card_payment_is_accepted_pending(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    order_id = await make_order(total="120.50")
    response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {
        "id": body["id"],
        "order_id": order_id,
        "status": "pending",
        "amount": "120.50",
        "currency": "EUR",
        "method": "card",
        "card_brand": "visa",
        "card_last4": "4242",
        "failure_reason": None,
        "created_at": body["created_at"],
    }
    payment = await payment_row(app, body["id"])
    assert payment.source_token.startswith("tok_sim_ok_")
    assert (payment.card_exp_month, payment.card_exp_year) == (12, 2099)
    assert await published(app) == [
        ("payments.PaymentRequested", {"payment_id": body["id"], "order_id": order_id})
    ]


@pytest.mark.parametrize(
    "details",
    [
        {"method": "paypal", "paypal_email": "buyer@example.com"},
        {
            "method": "bank_transfer",
            "bank_account": {"iban": "DE89 3704 0044 0532 0130 00", "holder_name": "A. Buyer"},
        },
    ],
)
async def test_paypal_and_bank_transfer_are_accepted(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder, details: dict[str, Any]
) -> None:
    order_id = await make_order()
    response = await client.post(
        URL, json={"order_id": order_id, **details}, headers=with_key(alice)
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["method"], body["card_brand"], body["card_last4"]) == (
        details["method"],
        None,
        None,
    )


async def test_a_sent_amount_must_be_the_orders_total(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder
) -> None:
    order_id = await make_order(total="99.90")
    wrong = await client.post(
        URL, json={**card_body(order_id), "amount": "90.00"}, headers=with_key(alice)
    )
    assert wrong.status_code == 422
    assert wrong.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in wrong.json()["errors"]] == [["body", "amount"]]
    right = await client.post(
        URL, json={**card_body(order_id), "amount": "99.90"}, headers=with_key(alice)
    )
    assert right.status_code == 202
    assert right.json()["amount"] == "99.90"


async def test_someone_elses_or_an_unknown_order_is_404(
    client: httpx.AsyncClient, alice: Headers, staff: Headers, make_order: MakeOrder
) -> None:
    bobs = await make_order(user_id=BOB_ID)
    for headers in (alice, staff):
        response = await client.post(URL, json=card_body(bobs), headers=with_key(headers))
        assert response.status_code == 404
    assert (
        await client.post(URL, json=card_body(424242), headers=with_key(alice))
    ).status_code == 404


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("pending", "order_not_payable"),
        ("cancelled", "order_not_payable"),
        ("paid", "order_already_paid"),
        ("shipped", "order_already_paid"),
    ],
)
async def test_an_order_not_awaiting_payment_is_409(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    status: str,
    code: str,
) -> None:
    order_id = await make_order(status=status)
    response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert response.status_code == 409
    assert response.json()["code"] == code
    assert await count_payments(app) == 0


async def test_an_order_whose_payment_failed_can_be_paid_again(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder, worker: Worker
) -> None:
    order_id = await make_order()
    declined = card_body(order_id, number="4000000000000002")
    first = await client.post(URL, json=declined, headers=with_key(alice))
    await drain(worker)
    assert (await payment_row(app, first.json()["id"])).status == "failed"
    await make_order(order_id=order_id, status="payment_failed")
    second = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert second.status_code == 202
    await drain(worker)
    assert (await payment_row(app, second.json()["id"])).status == "succeeded"


async def test_a_pending_or_succeeded_payment_blocks_another(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder, worker: Worker
) -> None:
    order_id = await make_order()
    assert (
        await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    ).status_code == 202
    pending = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert (pending.status_code, pending.json()["code"]) == (409, "payment_in_progress")
    await drain(worker)
    paid = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert (paid.status_code, paid.json()["code"]) == (409, "order_already_paid")
    assert await count_payments(app) == 1


async def test_concurrent_payments_of_one_order_with_different_keys(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    order_id = await make_order()
    responses = await asyncio.gather(
        *(client.post(URL, json=card_body(order_id), headers=with_key(alice)) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * 9
    assert await count_payments(app) == 1


async def test_the_idempotency_key_is_required(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder
) -> None:
    response = await client.post(URL, json=card_body(await make_order()), headers=alice)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["header", "Idempotency-Key"]]


async def test_anonymous_requests_are_401(client: httpx.AsyncClient, make_order: MakeOrder) -> None:
    response = await client.post(URL, json=card_body(await make_order()), headers=with_key({}))
    assert response.status_code == 401


async def test_the_same_key_and_body_replays_the_stored_response(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder, worker: Worker
) -> None:
    order_id = await make_order()
    headers = with_key(alice, "retry-me")
    first = await client.post(URL, json=card_body(order_id), headers=headers)
    await drain(worker)  # processed meanwhile: the replay is still the stored answer
    again = await client.post(URL, json=card_body(order_id), headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await count_payments(app) == 1
    assert len(await published(app, "payments.PaymentRequested")) == 1
    assert len(await provider_charges(app)) == 1


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    order_id = await make_order()
    headers = with_key(alice, "one-body-only")
    assert (await client.post(URL, json=card_body(order_id), headers=headers)).status_code == 202
    # Another expiry: another card as far as the fingerprint knows (it never sees the CVC).
    other = await client.post(URL, json=card_body(order_id, exp_year=2098), headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["type"] == "idempotency_key_reused"


async def test_keys_are_scoped_to_the_user(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, bob: Headers, make_order: MakeOrder
) -> None:
    alices, bobs = await make_order(), await make_order(user_id=BOB_ID)
    a = await client.post(URL, json=card_body(alices), headers=with_key(alice, "shared-key"))
    b = await client.post(URL, json=card_body(bobs), headers=with_key(bob, "shared-key"))
    assert (a.status_code, b.status_code) == (202, 202)
    assert b.json()["order_id"] == bobs
    assert await count_payments(app) == 2


async def test_a_key_older_than_24_hours_is_forgotten(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder, worker: Worker
) -> None:
    order_id = await make_order()
    headers = with_key(alice, "yesterday")
    declined = card_body(order_id, number="4000000000000002")
    first = await client.post(URL, json=declined, headers=headers)
    await drain(worker)
    await make_order(order_id=order_id, status="payment_failed")
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            update(IdempotencyRecord).values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    again = await client.post(URL, json=declined, headers=headers)
    assert again.status_code == 202
    assert again.json()["id"] != first.json()["id"]


async def test_a_request_in_flight_with_the_same_key_is_409(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    order_id = await make_order()
    async with app.state.sessionmaker.begin() as session:
        # Another request holding the key: its transaction has the key's lock.
        assert await idempotency.try_lock(session, user_id=ALICE_ID, key="busy")
        response = await client.post(URL, json=card_body(order_id), headers=with_key(alice, "busy"))
    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_in_use")
    assert await count_payments(app) == 0
    retried = await client.post(URL, json=card_body(order_id), headers=with_key(alice, "busy"))
    assert retried.status_code == 202


async def test_a_payment_is_accepted_in_six_statements(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    """The replica's read, the key's lock, its record, the payment, the outbox row and the
    stored answer: whether the order already has a payment is learnt from the insert (the
    partial unique index), not asked first."""
    order_id = await make_order()
    with count_statements(app.state.engine) as statements:
        response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    assert response.status_code == 202, response.text
    assert statements.count == 6, statements.statements


async def test_twenty_concurrent_identical_requests_charge_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    provider: SimulatedProvider,
) -> None:
    order_id = await make_order()
    headers = with_key(alice, "twenty-at-once")
    responses = await asyncio.gather(
        *(client.post(URL, json=card_body(order_id), headers=headers) for _ in range(20))
    )
    accepted = [r.json() for r in responses if r.status_code == 202]
    assert accepted
    assert all(body == accepted[0] for body in accepted)
    assert {r.status_code for r in responses} <= {202, 409}
    assert await count_payments(app) == 1
    await drain(worker)
    assert provider.charge_calls == 1
    [charge] = await provider_charges(app)
    assert (charge.succeeded, charge.requests) == (True, 1)
    assert (await payment_row(app, accepted[0]["id"])).status == "succeeded"


def _payments_waiting() -> float:
    return REGISTRY.get_sample_value("shop_payments_waiting_for_order") or 0.0


async def _a_payment_waits() -> None:
    async def waiting() -> bool:
        return _payments_waiting() == 1

    await eventually_async(waiting, what="the request to wait for the order")


@pytest.mark.parametrize("known", [True, False], ids=["pending", "unknown"])
async def test_a_payment_waits_for_the_order_event_on_its_way(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder, known: bool
) -> None:
    """The orders service shows `awaiting_payment` before its events reach payments: a
    request that finds the order still `pending` (409 otherwise), or not in the replica
    at all (404 otherwise), waits for the replica instead."""
    app.state.settings.order_wait_seconds = 60.0  # the event below, not a timer, ends it
    order_id = await make_order(status="pending") if known else UNKNOWN_ORDER_ID
    request = asyncio.create_task(
        client.post(URL, json=card_body(order_id), headers=with_key(alice))
    )
    await _a_payment_waits()
    await make_order(order_id=order_id, status="awaiting_payment")
    response = await request
    assert response.status_code == 202, response.text
    assert await count_payments(app) == 1
    assert _payments_waiting() == 0


async def test_a_waiting_payment_reads_its_order_only_when_the_order_changes(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    """Woken by the replica's NOTIFY, not by a timer: a wait costs the database one read
    per change of its order (a stranger probing unknown ids makes no reads while waiting)."""
    app.state.settings.order_wait_seconds = 60.0

    def replica_reads() -> int:
        return sum(
            s.startswith("SELECT") and "FROM payments.orders" in s for s in statements.statements
        )

    with count_statements(app.state.engine) as statements:
        request = asyncio.create_task(
            client.post(URL, json=card_body(UNKNOWN_ORDER_ID), headers=with_key(alice))
        )
        await _a_payment_waits()
        await make_order()  # another order changes: no wake-up for this one
        await asyncio.sleep(0.3)  # a poll every 50 ms would read here
        assert replica_reads() == 1
        await make_order(order_id=UNKNOWN_ORDER_ID, status="awaiting_payment")
        response = await request
    assert response.status_code == 202, response.text
    assert replica_reads() == 2


async def test_someone_elses_order_is_waited_for_as_an_unknown_one(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    """An unknown order is waited for, so someone else's is too: a 404 that came at once
    for a stranger's order and after the wait for an unknown one would tell which ids
    exist. Even a change of that order does not end the wait."""
    app.state.settings.order_wait_seconds = 60.0
    bobs = await make_order(user_id=BOB_ID, status="pending")
    request = asyncio.create_task(client.post(URL, json=card_body(bobs), headers=with_key(alice)))
    await _a_payment_waits()
    await make_order(order_id=bobs, user_id=BOB_ID, status="awaiting_payment")
    await asyncio.sleep(0.2)
    assert not request.done()
    assert _payments_waiting() == 1
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert _payments_waiting() == 0
    assert await count_payments(app) == 0


@pytest.mark.parametrize(
    "settings_overrides", [{"db_pool_size": 1, "db_pool_timeout_seconds": 0.2}]
)
async def test_a_payment_waiting_for_its_order_holds_no_connection(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    """The wait happens before the request's transaction: with a pool of one connection,
    other requests are served while a payment waits (they were 503 `busy` after the
    pool's timeout when the wait held the connection)."""
    app.state.settings.order_wait_seconds = 60.0
    order_id = await make_order(status="pending")
    paying = asyncio.create_task(
        client.post(URL, json=card_body(order_id), headers=with_key(alice))
    )
    await _a_payment_waits()
    for _ in range(3):
        listed = await client.get(URL, headers=alice)
        assert listed.status_code == 200, listed.text
        await asyncio.sleep(0.1)  # past the pool's timeout, had the wait held the connection
    assert not paying.done()
    await make_order(order_id=order_id, status="awaiting_payment")
    response = await paying
    assert response.status_code == 202, response.text
    assert await count_payments(app) == 1
