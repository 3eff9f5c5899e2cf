"""The checkout saga across real processes: users, catalog and orders behind nginx, their
workers relaying outboxes through Redis Streams and consuming each other's events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.testing import bearer
from shared.testing import eventually as poll

PASSWORD = "correct horse battery"
SAGA_SECONDS = 90
# Polls until a check answers (bounded; the saga is asynchronous).
eventually = partial(poll, seconds=SAGA_SECONDS, interval=0.05)


def customer(gateway: httpx.Client) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    registered = gateway.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert registered.status_code == 201, registered.text
    login = gateway.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    return bearer(login.json()["access"])


@pytest.fixture(scope="module")
def staff(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(900_000, staff=True))


def new_product(gateway: httpx.Client, staff: dict[str, str], *, price: str, stock: int) -> int:
    category = gateway.post(
        "/api/categories/", json={"name": f"Saga {uuid.uuid4().hex[:8]}"}, headers=staff
    )
    assert category.status_code == 201, category.text
    product = gateway.post(
        "/api/products/",
        json={
            "name": f"Saga product {uuid.uuid4().hex[:6]}",
            "price": price,
            "stock_quantity": stock,
            "category_id": category.json()["id"],
        },
        headers=staff,
    )
    assert product.status_code == 201, product.text
    return int(product.json()["id"])


def order_of(
    gateway: httpx.Client, headers: dict[str, str], product_id: int, quantity: int
) -> dict[str, Any]:
    """Cart, line, order; the line waits until orders learned the product from catalog."""
    cart = gateway.post("/api/shopping-carts/", json={}, headers=headers).json()

    def add_line() -> bool:
        response = gateway.post(
            "/api/cart-items/",
            json={"cart_id": cart["id"], "product_id": product_id, "quantity": quantity},
            headers=headers,
        )
        assert response.status_code in (201, 422), response.text
        return response.status_code == 201

    eventually(add_line, what="the product to reach the orders replica")
    order = gateway.post(
        "/api/orders/",
        json={"cart_id": cart["id"]},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code == 201, order.text
    body: dict[str, Any] = order.json()
    assert body["status"] == "pending"
    return body


def settled(gateway: httpx.Client, headers: dict[str, str], order_id: int) -> dict[str, Any]:
    def left_pending() -> dict[str, Any] | None:
        body: dict[str, Any] = gateway.get(f"/api/orders/{order_id}/", headers=headers).json()
        return None if body["status"] == "pending" else body

    return eventually(left_pending, what=f"order {order_id} to leave pending")  # type: ignore[no-any-return]


def stock_of(gateway: httpx.Client, product_id: int) -> int:
    # With an Authorization header the gateway's micro-cache steps aside (catalog reads
    # ignore it), so this is the catalog's current answer.
    response = gateway.get(f"/api/products/{product_id}/", headers={"Authorization": "Bearer -"})
    assert response.status_code == 200, response.text
    return int(response.json()["stock_quantity"])


def test_order_reaches_awaiting_payment_and_out_of_stock_is_cancelled(
    gateway: httpx.Client, staff: dict[str, str]
) -> None:
    product_id = new_product(gateway, staff, price="19.99", stock=3)
    alice = customer(gateway)
    order = order_of(gateway, alice, product_id, 2)
    assert order["total_amount"] == "39.98"
    assert settled(gateway, alice, order["id"])["status"] == "awaiting_payment"
    assert stock_of(gateway, product_id) == 1

    bob = customer(gateway)
    greedy = order_of(gateway, bob, product_id, 2)
    cancelled = settled(gateway, bob, greedy["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "out_of_stock"
    assert stock_of(gateway, product_id) == 1


def test_forty_customers_race_for_ten_units(gateway: httpx.Client, staff: dict[str, str]) -> None:
    product_id = new_product(gateway, staff, price="5.00", stock=10)
    customers = [customer(gateway) for _ in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        orders = list(pool.map(lambda h: (h, order_of(gateway, h, product_id, 1)), customers))
        outcomes = list(pool.map(lambda ho: settled(gateway, ho[0], ho[1]["id"]), orders))
    statuses = [o["status"] for o in outcomes]
    assert statuses.count("awaiting_payment") == 10
    assert statuses.count("cancelled") == 30
    assert stock_of(gateway, product_id) == 0


def test_customer_cancel_gives_the_stock_back(gateway: httpx.Client, staff: dict[str, str]) -> None:
    product_id = new_product(gateway, staff, price="7.50", stock=4)
    alice = customer(gateway)
    order = order_of(gateway, alice, product_id, 3)
    assert settled(gateway, alice, order["id"])["status"] == "awaiting_payment"
    cancelled = gateway.post(f"/api/orders/{order['id']}/cancel/", headers=alice)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    eventually(lambda: stock_of(gateway, product_id) == 4, what="the stock to come back")


GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def pay(gateway: httpx.Client, headers: dict[str, str], order_id: int, card: str) -> httpx.Response:
    return gateway.post(
        "/api/payments/",
        json={
            "order_id": order_id,
            "method": "card",
            "card": {"number": card, "exp_month": 12, "exp_year": 2099, "cvc": "123"},
        },
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )


def status_becomes(
    gateway: httpx.Client, headers: dict[str, str], order_id: int, wanted: str
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = gateway.get(f"/api/orders/{order_id}/", headers=headers).json()
        return body if body["status"] == wanted else None

    return eventually(check, what=f"order {order_id} to become {wanted}")  # type: ignore[no-any-return]


def payable(
    gateway: httpx.Client, headers: dict[str, str], order_id: int, card: str
) -> httpx.Response:
    """Pay once payments learned the order is awaiting payment (its replica is async)."""

    def attempt() -> httpx.Response | None:
        response = pay(gateway, headers, order_id, card)
        return response if response.status_code != 409 else None

    return eventually(attempt, what="payments to accept the order")  # type: ignore[no-any-return]


def test_pay_decline_retry_refund(gateway: httpx.Client, stack: Any, staff: dict[str, str]) -> None:
    product_id = new_product(gateway, staff, price="12.00", stock=5)
    alice = customer(gateway)
    order = order_of(gateway, alice, product_id, 2)
    order_id = order["id"]
    status_becomes(gateway, alice, order_id, "awaiting_payment")

    declined = payable(gateway, alice, order_id, DECLINED_CARD)
    assert declined.status_code == 202, declined.text
    assert declined.json()["card_last4"] == "0002"
    status_becomes(gateway, alice, order_id, "payment_failed")

    accepted = payable(gateway, alice, order_id, GOOD_CARD)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["amount"] == "24.00"
    status_becomes(gateway, alice, order_id, "paid")
    assert stock_of(gateway, product_id) == 3  # sold: committed, not released

    # The confirmation email reached the mail sink.
    mail_dir = Path(stack.env["ORDERS_MAIL_SINK_DIR"])
    message = eventually(
        lambda: next(
            (m for m in sorted(mail_dir.glob("*.eml")) if f"#{order_id} " in m.read_text()), None
        ),
        what="the confirmation email",
    )
    text = message.read_text()
    assert "Total: 24.00 EUR" in text
    assert GOOD_CARD not in text

    # Cancelling the paid order refunds it and puts the units back.
    cancelled = gateway.post(f"/api/orders/{order_id}/cancel/", headers=alice)
    assert cancelled.status_code == 200, cancelled.text

    def refunded() -> bool:
        payments = gateway.get(f"/api/payments/?order_id={order_id}", headers=alice).json()
        return any(p["status"] == "refunded" for p in payments["results"])

    eventually(refunded, what="the refund")
    eventually(lambda: stock_of(gateway, product_id) == 5, what="the stock to come back")

    # The order-history projection folded all of it, in order, for Alice only.
    expected = [
        "orders.OrderPlaced",
        "orders.OrderAwaitingPayment",
        "payments.PaymentFailed",
        "orders.OrderPaymentFailed",
        "payments.PaymentSucceeded",
        "orders.OrderPaid",
        "orders.OrderCancelled",
        "payments.PaymentRefunded",
    ]

    def timeline() -> list[str] | None:
        response = gateway.get(f"/api/orders/history/{order_id}/", headers=alice)
        if response.status_code != 200:
            return None
        types = [e["type"] for e in response.json()["events"]]
        return types if set(expected) <= set(types) else None

    types = eventually(timeline, what="the order's full history")
    assert [t for t in types if t.startswith("orders.")] == [
        t for t in expected if t.startswith("orders.")
    ]
    history = gateway.get("/api/orders/history/", headers=alice).json()["results"]
    assert [(h["order_id"], h["status"]) for h in history] == [(order_id, "cancelled")]
    stranger = customer(gateway)
    assert gateway.get(f"/api/orders/history/{order_id}/", headers=stranger).status_code == 404
