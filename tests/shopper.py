"""Customers of the fault stack: each one registers, fills a cart, orders and pays
through the gateway, behaving as a careful SPA does during an outage: a 503 or a
connection refused is tried again after its Retry-After, with the same Idempotency-Key,
so an outage delays a checkout and never doubles it. Every answer is counted."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.faultstack import PYTHON, ROOT, FaultStack

PASSWORD = "correct horse battery"
GOOD_CARD = "4242424242424242"
# Transient answers a client retries: the gateway or a service says "not now" (429: the
# gateway's per-address limit, which the whole load shares from 127.0.0.1).
RETRYABLE = {429, 502, 503, 504}
CHECKOUT_S = 120
READ_PAUSE_S = 0.02


class CheckoutFailed(Exception):
    """A step of a checkout got an answer that retrying cannot fix."""


@dataclass
class Tally:
    """Every answer the load got, by status ("error" for a transport failure)."""

    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # time.monotonic() of every failed answer, for the time to recover.
    failed_at: list[float] = field(default_factory=list)

    def count(self, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            if is_failure(status):
                self.failed_at.append(time.monotonic())

    @property
    def failed(self) -> dict[str, int]:
        return {s: n for s, n in self.statuses.items() if is_failure(s)}


def is_failure(status: str) -> bool:
    """A 5xx or no answer at all; 4xx are the saga's "not yet" (409, 422) or a client bug,
    counted apart."""
    return status == "error" or status.startswith("5")


class Shop:
    def __init__(self, stack: FaultStack, tally: Tally | None = None) -> None:
        self.stack = stack
        self.tally = tally or Tally()
        self.client = httpx.Client(base_url=stack.url, timeout=35)

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        deadline_s: float = CHECKOUT_S,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request; transient failures are retried until `deadline_s`."""
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                self.tally.count("error")
                # A refused connection never reached a service: always safe to repeat.
                safe = isinstance(exc, httpx.ConnectError) or method == "GET"
                if not (retry and safe) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            self.tally.count(str(response.status_code))
            if retry and response.status_code in RETRYABLE and time.monotonic() < deadline:
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 2.0))
                continue
            return response

    def staff_headers(self) -> dict[str, str]:
        email = f"staff-{uuid.uuid4().hex[:8]}@example.com"
        subprocess.run(
            [PYTHON, "-m", "users.cli", "create-staff", "--email", email, "--password", PASSWORD],
            env=self.stack.env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return self.login(email)

    def login(self, email: str) -> dict[str, str]:
        # Straight to a users replica: the gateway's login limit (10/min per address) is
        # for strangers, and every test customer comes from 127.0.0.1.
        users = f"http://127.0.0.1:{self.stack.service_port('users')}"
        response = self.call(
            "POST", f"{users}/api/auth/login/", json={"email": email, "password": PASSWORD}
        )
        if response.status_code != 200:
            raise CheckoutFailed(f"login: {response.status_code} {response.text}")
        return {"Authorization": f"Bearer {response.json()['access']}"}

    def customer(self) -> dict[str, str]:
        email = f"c-{uuid.uuid4().hex[:12]}@example.com"
        users = f"http://127.0.0.1:{self.stack.service_port('users')}"
        body = {"email": email, "username": email.split("@")[0], "password": PASSWORD}
        response = self.call("POST", f"{users}/api/auth/register/", json=body)
        if response.status_code != 201:
            raise CheckoutFailed(f"register: {response.status_code} {response.text}")
        return self.login(email)

    def new_product(self, staff: dict[str, str], *, stock: int, price: str = "10.00") -> int:
        category = self.call(
            "POST", "/api/categories/", json={"name": f"F {uuid.uuid4().hex[:8]}"}, headers=staff
        )
        if category.status_code != 201:
            raise CheckoutFailed(f"category: {category.status_code} {category.text}")
        body = {
            "name": f"Fault product {uuid.uuid4().hex[:6]}",
            "price": price,
            "stock_quantity": stock,
            "category_id": category.json()["id"],
        }
        product = self.call("POST", "/api/products/", json=body, headers=staff)
        if product.status_code != 201:
            raise CheckoutFailed(f"product: {product.status_code} {product.text}")
        return int(product.json()["id"])

    def until(self, check: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + CHECKOUT_S
        while not (result := check()):
            if time.monotonic() > deadline:
                raise CheckoutFailed(f"timed out waiting for {what}")
            time.sleep(0.1)
        return result

    def order_status(self, headers: dict[str, str], order_id: int) -> str:
        response = self.call("GET", f"/api/orders/{order_id}/", headers=headers)
        if response.status_code != 200:
            raise CheckoutFailed(f"order {order_id}: {response.status_code} {response.text}")
        return str(response.json()["status"])

    def checkout(self, headers: dict[str, str], product_id: int, quantity: int = 1) -> int:
        """Cart, line, order, payment; returns the order id once it is paid or cancelled."""
        order_id = self.place_order(headers, product_id, quantity)
        self.pay_and_settle(headers, order_id)
        return order_id

    def place_order(self, headers: dict[str, str], product_id: int, quantity: int = 1) -> int:
        """Cart, line and order (writes of the orders service alone); the order's id."""
        # 201 a new cart; 200 the open one (left by a checkout that failed before ordering).
        cart = self.call("POST", "/api/shopping-carts/", json={}, headers=headers)
        if cart.status_code not in (200, 201):
            raise CheckoutFailed(f"cart: {cart.status_code} {cart.text}")
        line = {"cart_id": cart.json()["id"], "product_id": product_id, "quantity": quantity}

        def add_line() -> bool:
            response = self.call("POST", "/api/cart-items/", json=line, headers=headers)
            # 422: orders has not learned the product yet; 200: added to a line there.
            if response.status_code not in (200, 201, 422):
                raise CheckoutFailed(f"cart item: {response.status_code} {response.text}")
            return response.status_code != 422

        self.until(add_line, "the product to reach orders")
        key = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        order = self.call("POST", "/api/orders/", json={"cart_id": line["cart_id"]}, headers=key)
        if order.status_code not in (200, 201):
            raise CheckoutFailed(f"order: {order.status_code} {order.text}")
        return int(order.json()["id"])

    def pay_and_settle(self, headers: dict[str, str], order_id: int) -> None:
        """Wait for the stock verdict, pay, wait for the payment's verdict."""
        status = self.until(
            lambda: (s := self.order_status(headers, order_id)) != "pending" and s,
            f"order {order_id} to leave pending",
        )
        if status == "cancelled":
            return
        payment = {
            "order_id": order_id,
            "method": "card",
            "card": {"number": GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"},
        }
        key = {**headers, "Idempotency-Key": uuid.uuid4().hex}

        def pay() -> bool:
            response = self.call("POST", "/api/payments/", json=payment, headers=key)
            # 409 / 404: payments has not learned (from orders' events) that the order
            # awaits payment; its worker may be restarting.
            if response.status_code not in (202, 404, 409):
                raise CheckoutFailed(f"payment: {response.status_code} {response.text}")
            return response.status_code == 202

        self.until(pay, f"payments to accept order {order_id}")
        self.until(
            lambda: self.order_status(headers, order_id) in ("paid", "payment_failed"),
            f"order {order_id} to be paid",
        )


class ReadLoad:
    """A steady stream of GETs in a thread; no retries: every failure counts."""

    def __init__(self, shop: Shop, paths: list[str], tally: Tally | None = None) -> None:
        self.shop = shop
        self.paths = paths
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.tally = tally or Tally()

    def _run(self) -> None:
        # With an Authorization header the gateway's micro-cache steps aside: each GET
        # reaches a replica.
        headers = {"Authorization": "Bearer -"}
        i = 0
        with httpx.Client(base_url=self.shop.stack.url, timeout=35) as client:
            while not self.stop.is_set():
                path = self.paths[i % len(self.paths)]
                i += 1
                try:
                    status = str(client.get(path, headers=headers).status_code)
                except httpx.TransportError:
                    status = "error"
                self.tally.count(status)
                # About 50 GETs/s: the gateway's per-address limit (100/s) is shared with
                # the shoppers, all of them at 127.0.0.1.
                self.stop.wait(READ_PAUSE_S)

    def __enter__(self) -> ReadLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)

    def total(self) -> int:
        return sum(self.tally.statuses.values())
