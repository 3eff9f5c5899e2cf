"""The processor: test sources decide the outcome; results go out through the outbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from payments_support import (
    ALICE_ID,
    Headers,
    MakeOrder,
    card_body,
    drain,
    payment_row,
    provider_charges,
    published,
    with_key,
)

from payments.db.tables import inbox
from payments.domain import processing
from payments.domain.processing import ProviderTimeout, RetryPolicy
from payments.provider.base import CardDetails, ProviderError
from payments.provider.simulated import SimulatedProvider
from payments.settings import PaymentsSettings
from payments.worker import Worker
from shared.events.streams import events_stream
from shared.testing import count_statements

URL = "/api/payments/"


def paypal(email: str) -> dict[str, Any]:
    return {"method": "paypal", "paypal_email": email}


def bank(iban: str) -> dict[str, Any]:
    return {"method": "bank_transfer", "bank_account": {"iban": iban, "holder_name": "A. Buyer"}}


def card(number: str) -> dict[str, Any]:
    return {
        "method": "card",
        "card": {"number": number, "exp_month": 1, "exp_year": 2090, "cvc": "321"},
    }


OUTCOMES = [
    (card("4242424242424242"), None),
    (card("5555555555554444"), None),
    (card("4000000000000002"), "card_declined"),
    (card("4000000000009995"), "insufficient_funds"),
    (card("4000000000000069"), "expired_card"),
    (card("4000000000000127"), "incorrect_cvc"),
    (paypal("buyer@example.com"), None),
    (paypal("declined@sandbox.example.com"), "payment_declined"),
    (paypal("insufficient@sandbox.example.com"), "insufficient_funds"),
    (bank("DE89370400440532013000"), None),
    (bank("DE62370400440532013001"), "bank_account_declined"),
    (bank("DE35370400440532013002"), "insufficient_funds"),
]


@pytest.mark.parametrize(("details", "reason"), OUTCOMES)
async def test_test_sources_decide_the_outcome(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    details: dict[str, Any],
    reason: str | None,
) -> None:
    order_id = await make_order(total="42.00")
    response = await client.post(
        URL, json={"order_id": order_id, **details}, headers=with_key(alice)
    )
    payment_id = response.json()["id"]
    await drain(worker)

    payment = await payment_row(app, payment_id)
    common = {
        "payment_id": payment_id,
        "order_id": order_id,
        "user_id": ALICE_ID,
        "amount": "42.00",
        "currency": "EUR",
        "method": details["method"],
    }
    outcomes = await published(app, "payments.PaymentSucceeded", "payments.PaymentFailed")
    if reason is None:
        assert payment.status == "succeeded"
        assert payment.charge_id is not None
        assert payment.charge_id.startswith("ch_sim_")
        brand = response.json()["card_brand"]
        last4 = response.json()["card_last4"]
        assert outcomes == [
            ("payments.PaymentSucceeded", {**common, "card_brand": brand, "card_last4": last4})
        ]
    else:
        assert (payment.status, payment.failure_reason) == ("failed", reason)
        assert outcomes == [("payments.PaymentFailed", {**common, "reason_code": reason})]
    shown = (await client.get(f"{URL}{payment_id}/", headers=alice)).json()
    assert (shown["status"], shown["failure_reason"]) == (payment.status, reason)


@pytest.mark.parametrize(
    "details",
    [
        card("4000000000000119"),
        paypal("unavailable@sandbox.example.com"),
        bank("DE08370400440532013003"),
    ],
)
async def test_transient_errors_are_retried_then_fail_the_payment(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    provider: SimulatedProvider,
    settings: PaymentsSettings,
    details: dict[str, Any],
) -> None:
    order_id = await make_order()
    response = await client.post(
        URL, json={"order_id": order_id, **details}, headers=with_key(alice)
    )
    await drain(worker)
    assert provider.charge_calls == settings.provider_max_attempts == 3
    payment = await payment_row(app, response.json()["id"])
    assert (payment.status, payment.failure_reason) == ("failed", "processing_error")
    assert await provider_charges(app) == []


async def test_outcome_events_reach_the_payments_stream(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder, worker: Worker
) -> None:
    order_id = await make_order()
    await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    await drain(worker)
    entries = await app.state.redis.xrange(events_stream("payments"))
    assert [fields["type"] for _, fields in entries] == [
        "payments.PaymentRequested",
        "payments.PaymentSucceeded",
    ]


async def test_a_redelivered_request_charges_nothing_more(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    provider: SimulatedProvider,
) -> None:
    order_id = await make_order()
    response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    await drain(worker)
    # The same event again, as after a crash between the commit and the XACK...
    async with app.state.engine.begin() as conn:
        await conn.execute(inbox.delete())
    [(_entry_id, fields)] = (await app.state.redis.xrange(events_stream("payments")))[:1]
    await app.state.redis.xadd(events_stream("payments"), fields)
    await drain(worker)
    # ...and the handler run directly once more.
    await processing.charge(
        app.state.sessionmaker, provider, RetryPolicy(), payment_id=response.json()["id"]
    )
    assert provider.charge_calls == 1
    assert len(await published(app, "payments.PaymentSucceeded")) == 1


async def test_a_payment_of_an_order_cancelled_meanwhile_is_not_charged(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    provider: SimulatedProvider,
) -> None:
    order_id = await make_order()
    response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    await make_order(order_id=order_id, status="cancelled")
    await drain(worker)
    payment = await payment_row(app, response.json()["id"])
    assert (payment.status, payment.failure_reason) == ("failed", "order_cancelled")
    assert provider.charge_calls == 0


async def test_a_provider_that_answers_too_late_is_asked_again_and_charges_once(
    client: httpx.AsyncClient, app: FastAPI, alice: Headers, make_order: MakeOrder
) -> None:
    order_id = await make_order()
    response = await client.post(URL, json=card_body(order_id), headers=with_key(alice))
    payment_id = response.json()["id"]
    # The provider records the charge, then its answer takes longer than we wait.
    slow = SimulatedProvider(app.state.engine, latency_s=30.0)
    impatient = RetryPolicy(attempts=2, backoff_s=0, timeout_s=0.5)
    with pytest.raises(ProviderTimeout):  # the consumer leaves the event to redeliver
        await processing.charge(app.state.sessionmaker, slow, impatient, payment_id=payment_id)
    assert slow.charge_calls == 2
    assert (await payment_row(app, payment_id)).status == "pending"  # not failed: maybe paid
    # The provider is quick again: the redelivery settles it with the same key.
    quick = SimulatedProvider(app.state.engine)
    await processing.charge(app.state.sessionmaker, quick, impatient, payment_id=payment_id)
    payment = await payment_row(app, payment_id)
    assert payment.status == "succeeded"
    [charge] = await provider_charges(app)
    assert charge.reference == payment.charge_id
    assert charge.requests >= 2
    assert len(await published(app, "payments.PaymentSucceeded")) == 1


async def test_the_provider_records_a_call_in_one_round_trip(app: FastAPI) -> None:
    """The simulated provider's record of a call is one upsert in autocommit (it commits
    on its own, as a remote provider's does): no BEGIN and COMMIT around it. A repeated
    key is answered from the record and counted; the refund of the charge likewise."""
    provider = SimulatedProvider(app.state.engine)
    source = await provider.tokenize(
        CardDetails(number="4242424242424242", exp_month=1, exp_year=2090, cvc="321")
    )
    charge = {"source_token": source.token, "amount": Decimal("12.50"), "currency": "EUR"}
    with count_statements(app.state.engine) as statements:
        first = await provider.charge(idempotency_key="pay-1", **charge)
    assert (len(statements.statements), statements.round_trips) == (1, 1)
    again = await provider.charge(idempotency_key="pay-1", **charge)
    assert again == first
    assert first.succeeded
    refund = {"charge_reference": first.reference, "amount": Decimal("12.50"), "currency": "EUR"}
    refunded = await provider.refund(idempotency_key="refund-1", **refund)
    assert refunded == await provider.refund(idempotency_key="refund-1", **refund)
    [recorded] = await provider_charges(app)
    [refund_record] = await provider_charges(app, kind="refund")
    assert (recorded.reference, recorded.requests) == (first.reference, 2)
    assert (refund_record.charge_reference, refund_record.requests) == (first.reference, 2)
    with pytest.raises(ProviderError):  # the same key for another amount
        await provider.charge(idempotency_key="pay-1", **{**charge, "amount": Decimal("1.00")})
