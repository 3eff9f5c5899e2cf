"""Races that concurrent charging makes likely, across the real stack (every service and
worker behind nginx, Redis Streams between them). Each ends with at most one successful
charge and at most one refund at the provider, the order in the right status and the
stock right.

The interleavings are forced, not hoped for: the simulated provider's hold cards
(PAYMENTS_PROVIDER_TEST_HOLDS, set by the test stack) record the charge and then hold
its answer until the test releases the hold; the test sees the charge in flight, and
every other step it waits for, in the database.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import make_url

from shared.dbadmin import admin_url
from shared.testing import bearer


def _saga_steps() -> Any:
    """The saga test's steps (customer, product, order, pay, wait), written once there."""
    path = Path(__file__).with_name("test_checkout_saga.py")
    spec = importlib.util.spec_from_file_location("checkout_saga_steps", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_steps = _saga_steps()
customer, eventually, new_product = _steps.customer, _steps.eventually, _steps.new_product
order_of, pay, payable = _steps.order_of, _steps.pay, _steps.payable
status_becomes, stock_of = _steps.status_becomes, _steps.stock_of

HELD_CARD = "4000000000003063"  # charged, answer held: succeeds once released
HELD_DECLINED_CARD = "4000000000003055"  # declined, answer held
GOOD_CARD = "4242424242424242"


@pytest.fixture(scope="module")
def staff(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(900_000, staff=True))


class Database:
    """SQL against the stack's database, as its superuser (to read every schema)."""

    def __init__(self, name: str) -> None:
        url = make_url(admin_url()).set(database=name, drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)

    def rows(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.dsn)
            try:
                return list(await conn.fetch(query, *args))
            finally:
                await conn.close()

        return asyncio.run(run())

    def value(self, query: str, *args: Any) -> Any:
        found = self.rows(query, *args)
        return found[0][0] if found else None


@pytest.fixture(scope="module")
def db(test_database: str) -> Database:
    return Database(test_database)


def provider_key(db: Database, payment_id: int) -> str:
    return str(db.value("SELECT provider_key FROM payments.payments WHERE id = $1", payment_id))


def charge_in_flight(db: Database, payment_id: int) -> str:
    """Wait until the processor claimed the payment and the provider holds its answer."""
    key = f"charge:{provider_key(db, payment_id)}"

    def held() -> bool:
        claimed = db.value("SELECT claimed_at FROM payments.payments WHERE id = $1", payment_id)
        hold = db.value("SELECT released FROM payments.provider_holds WHERE key = $1", key)
        return claimed is not None and hold is False

    eventually(held, what=f"payment {payment_id}'s charge to be held at the provider")
    return key


def release(db: Database, key: str) -> None:
    db.rows("UPDATE payments.provider_holds SET released = true WHERE key = $1", key)


def replica_status(db: Database, order_id: int) -> str | None:
    status: str | None = db.value(
        "SELECT status FROM payments.orders WHERE order_id = $1", order_id
    )
    return status


def provider_records(db: Database, payment_ids: list[int]) -> list[tuple[str, bool]]:
    """(kind, succeeded) of the provider's records for these payments' keys."""
    keys = [provider_key(db, pid) for pid in payment_ids]
    rows = db.rows(
        "SELECT kind, succeeded FROM payments.provider_charges"
        " WHERE split_part(idempotency_key, ':', 2) = ANY($1::text[]) ORDER BY created_at",
        keys,
    )
    return [(row["kind"], row["succeeded"]) for row in rows]


def payment_status(db: Database, payment_id: int) -> str:
    status: str = db.value("SELECT status FROM payments.payments WHERE id = $1", payment_id)
    return status


def awaiting_order(
    gateway: httpx.Client, staff: dict[str, str], *, stock: int = 3
) -> tuple[dict[str, str], int, int]:
    product_id = new_product(gateway, staff, price="30.00", stock=stock)
    buyer = customer(gateway)
    order_id = order_of(gateway, buyer, product_id, 1)["id"]
    status_becomes(gateway, buyer, order_id, "awaiting_payment")
    return buyer, order_id, product_id


def test_a_cancellation_racing_an_in_flight_charge_is_refunded_once(
    gateway: httpx.Client, staff: dict[str, str], db: Database
) -> None:
    buyer, order_id, product_id = awaiting_order(gateway, staff)
    payment = payable(gateway, buyer, order_id, HELD_CARD)
    assert payment.status_code == 202, payment.text
    payment_id = payment.json()["id"]
    hold = charge_in_flight(db, payment_id)

    cancelled = gateway.post(f"/api/orders/{order_id}/cancel/", headers=buyer)
    assert cancelled.status_code == 200, cancelled.text
    # Payments handled the cancellation while the charge was still in flight...
    eventually(lambda: replica_status(db, order_id) == "cancelled", what="payments to learn it")
    assert payment_status(db, payment_id) == "pending"
    release(db, hold)  # ...and the provider's answer comes in now: it was charged.

    eventually(lambda: payment_status(db, payment_id) == "refunded", what="the refund")
    assert provider_records(db, [payment_id]) == [("charge", True), ("refund", True)]
    assert status_becomes(gateway, buyer, order_id, "cancelled")["status"] == "cancelled"
    eventually(lambda: stock_of(gateway, product_id) == 3, what="the stock to come back")


def test_the_payment_window_expiring_during_a_charge_refunds_it(
    gateway: httpx.Client, staff: dict[str, str], db: Database
) -> None:
    buyer, order_id, product_id = awaiting_order(gateway, staff)
    payment_id = payable(gateway, buyer, order_id, HELD_CARD).json()["id"]
    hold = charge_in_flight(db, payment_id)

    # The payment window closes while the provider is still answering.
    db.rows("UPDATE orders.orders SET expires_at = now() - interval '1 s' WHERE id = $1", order_id)
    expired = status_becomes(gateway, buyer, order_id, "cancelled")
    assert expired["status"] == "cancelled"
    eventually(lambda: replica_status(db, order_id) == "cancelled", what="payments to learn it")
    release(db, hold)

    eventually(lambda: payment_status(db, payment_id) == "refunded", what="the refund")
    assert provider_records(db, [payment_id]) == [("charge", True), ("refund", True)]
    assert gateway.get(f"/api/orders/{order_id}/", headers=buyer).json()["status"] == "cancelled"
    eventually(lambda: stock_of(gateway, product_id) == 3, what="the stock to come back")


def paid_order(
    gateway: httpx.Client, staff: dict[str, str]
) -> tuple[dict[str, str], int, int, int]:
    buyer, order_id, product_id = awaiting_order(gateway, staff)
    payment_id = payable(gateway, buyer, order_id, GOOD_CARD).json()["id"]
    status_becomes(gateway, buyer, order_id, "paid")
    eventually(lambda: stock_of(gateway, product_id) == 2, what="the stock to be committed")
    return buyer, order_id, product_id, payment_id


def test_a_refund_failing_transiently_is_retried_until_done(
    gateway: httpx.Client, staff: dict[str, str], db: Database
) -> None:
    buyer, order_id, product_id, payment_id = paid_order(gateway, staff)
    hold = f"refund:{provider_key(db, payment_id)}"
    db.rows("INSERT INTO payments.provider_holds (key) VALUES ($1)", hold)

    assert gateway.post(f"/api/orders/{order_id}/cancel/", headers=buyer).status_code == 200
    # The refund fails: more calls than one delivery's attempts means the event came back.
    attempts = 3
    eventually(
        lambda: (
            db.value("SELECT calls FROM payments.provider_holds WHERE key = $1", hold) > attempts
        ),
        what="the refund to be retried after a redelivery",
    )
    assert payment_status(db, payment_id) == "succeeded"  # still owed, not forgotten
    release(db, hold)

    eventually(lambda: payment_status(db, payment_id) == "refunded", what="the refund")
    assert provider_records(db, [payment_id]) == [("charge", True), ("refund", True)]
    assert gateway.get(f"/api/orders/{order_id}/", headers=buyer).json()["status"] == "cancelled"
    eventually(lambda: stock_of(gateway, product_id) == 3, what="the stock to come back")


def test_two_concurrent_cancels_of_a_paid_order_refund_once(
    gateway: httpx.Client, staff: dict[str, str], db: Database
) -> None:
    buyer, order_id, product_id, payment_id = paid_order(gateway, staff)
    start = threading.Barrier(2)
    answers: list[int] = []

    def cancel() -> None:
        with httpx.Client(base_url=str(gateway.base_url), timeout=30) as client:
            start.wait()
            answers.append(
                client.post(f"/api/orders/{order_id}/cancel/", headers=buyer).status_code
            )

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409], answers

    eventually(lambda: payment_status(db, payment_id) == "refunded", what="the refund")
    eventually(lambda: stock_of(gateway, product_id) == 3, what="the stock to come back")
    assert provider_records(db, [payment_id]) == [("charge", True), ("refund", True)]
    cancelled_events = db.value(
        "SELECT count(*) FROM orders.outbox WHERE type = 'orders.OrderCancelled'"
        " AND aggregate_id = $1",
        str(order_id),
    )
    assert cancelled_events == 1


def test_a_payment_retried_after_a_decline_still_in_flight_charges_once(
    gateway: httpx.Client, staff: dict[str, str], db: Database
) -> None:
    buyer, order_id, product_id = awaiting_order(gateway, staff)
    first = payable(gateway, buyer, order_id, HELD_DECLINED_CARD).json()["id"]
    hold = charge_in_flight(db, first)

    # The customer retries with another card while the decline is still on its way.
    early = pay(gateway, buyer, order_id, GOOD_CARD)
    assert early.status_code == 409, early.text
    assert early.json()["code"] == "payment_in_progress"
    release(db, hold)
    status_becomes(gateway, buyer, order_id, "payment_failed")

    second = payable(gateway, buyer, order_id, GOOD_CARD)
    assert second.status_code == 202, second.text
    status_becomes(gateway, buyer, order_id, "paid")
    eventually(lambda: stock_of(gateway, product_id) == 2, what="the stock to be committed")
    assert (payment_status(db, first), payment_status(db, second.json()["id"])) == (
        "failed",
        "succeeded",
    )
    records = provider_records(db, [first, second.json()["id"]])
    assert records == [("charge", False), ("charge", True)]
    assert not any(kind == "refund" for kind, _ in records)
