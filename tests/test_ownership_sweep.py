"""The ownership sweep, driven by the merged OpenAPI document through the real nginx.

For every operation whose path names a resource, customer B calls it on customer A's
resource: 404, every time (or 403 where the operation is refused to B's role on B's own
resource just the same). Every write whose body names one of A's resources is 404 too,
and every list filtered by one of A's ids shows nothing. A's resources are unchanged
afterwards. A new endpoint is swept without anyone writing a test for it: one on a
resource the sweep has no id for fails until the sweep learns how to make one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest

from shared.testing import bearer
from shared.testing import eventually as poll

PASSWORD = "correct horse battery"
SETTLE_SECONDS = 90
eventually = partial(poll, seconds=SETTLE_SECONDS)
# Resources anyone may read (catalog); writes to them are staff-only.
PUBLIC_READS = {"products", "categories", "reviews"}
# Body or query fields that name a customer's resource, and which resource they name.
OWNED_FIELDS = {"cart_id": "shopping-carts", "order_id": "orders", "wishlist_id": "wishlists"}
# Query filters that name a customer's resource (lists of public reads aside).
QUERY_FILTERS = {
    **OWNED_FIELDS,
    "cart": "shopping-carts",
    "order": "orders",
    "wishlist": "wishlists",
    "user": "users",
}
# Values that make a body valid, so that the call reaches the ownership check.
SAMPLES: dict[str, Any] = {
    "quantity": 1,
    "rating": 4,
    "comment": "sweep",
    "name": "Sweep",
    "description": "sweep",
    "method": "card",
    "number": "4242424242424242",
    "exp_month": 12,
    "exp_year": 2099,
    "cvc": "123",
    "username": "sweeper",
    "first_name": "Sweep",
    "last_name": "Er",
    "is_active": False,
    "is_staff": True,
    "price": "1.00",
    "stock_quantity": 1,
}
# Operations the sweep does not call, with the reason.
SKIP = {
    # Public data by design: a catalog report, the JWKS.
    ("get", "/api/reports/bestsellers/"),
}


@dataclass
class Customer:
    """A customer and one resource of each kind they own, by the path segment naming it."""

    headers: dict[str, str]
    ids: dict[str, int] = field(default_factory=dict)


def make_customer(gateway: httpx.Client, product_id: int) -> Customer:
    email = f"sweep-{uuid.uuid4().hex[:10]}@example.com"
    user = gateway.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert user.status_code == 201, user.text
    login = gateway.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    me = Customer(headers=bearer(login.json()["access"]), ids={"users": user.json()["id"]})
    h = me.headers

    def post(path: str, body: dict[str, Any], *, ok: tuple[int, ...] = (201,)) -> Any:
        answer = gateway.post(path, json=body, headers={**h, "Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code in ok, f"{path}: {answer.text}"
        return answer.json()

    # A cart line waits until orders has learned the product from catalog's events.
    me.ids["shopping-carts"] = post("/api/shopping-carts/", {}, ok=(200, 201))["id"]
    line = {"cart_id": me.ids["shopping-carts"], "product_id": product_id, "quantity": 1}

    def add_line() -> Any:
        answer = gateway.post("/api/cart-items/", json=line, headers=h)
        return answer.json() if answer.status_code in (200, 201) else None

    eventually(add_line, what="the product in the orders replica")
    # The order from this cart empties it: fill it again for the cart-item id.
    order = post("/api/orders/", {"cart_id": me.ids["shopping-carts"]})
    me.ids["orders"] = order["id"]
    me.ids["cart-items"] = post("/api/cart-items/", line)["id"]
    me.ids["wishlists"] = post("/api/wishlists/", {"name": "Sweep"})["id"]
    me.ids["wishlist-items"] = post(
        "/api/wishlist-items/", {"wishlist_id": me.ids["wishlists"], "product_id": product_id}
    )["id"]
    draft = post("/api/orders/", {})
    me.ids["order-items"] = post(
        "/api/order-items/", {"order_id": draft["id"], "product_id": product_id, "quantity": 1}
    )["id"]
    me.ids["reviews"] = post("/api/reviews/", {"product_id": product_id, "rating": 5})["id"]

    def paid() -> Any:
        body = {"order_id": order["id"], "method": "card", "card": {**CARD}}
        key = {**h, "Idempotency-Key": uuid.uuid4().hex}
        answer = gateway.post("/api/payments/", json=body, headers=key)
        return answer.json() if answer.status_code == 202 else None

    me.ids["payments"] = eventually(paid, what="the order to be payable")["id"]

    def settled() -> bool | None:
        # The payment is charged in the background: the sweep's before/after snapshots
        # must not see that happen.
        payment = gateway.get(f"/api/payments/{me.ids['payments']}/", headers=h).json()
        placed = gateway.get(f"/api/orders/{order['id']}/", headers=h).json()
        return (payment["status"], placed["status"]) == ("succeeded", "paid") or None

    eventually(settled, what="the payment to be charged and the order paid")
    return me


CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@pytest.fixture(scope="module")
def gateway(stack: Any) -> Iterator[httpx.Client]:
    """One client for the module: the customers and their resources are made once."""
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world(
    gateway: httpx.Client, mint_token: Callable[..., str]
) -> tuple[Customer, Customer, dict[str, int]]:
    staff = bearer(mint_token(900_010, staff=True))
    category = gateway.post("/api/categories/", json={"name": "Sweep"}, headers=staff).json()
    product = gateway.post(
        "/api/products/",
        json={
            "name": "Swept",
            "price": "3.00",
            "stock_quantity": 50,
            "category_id": category["id"],
        },
        headers=staff,
    ).json()
    public = {"products": product["id"], "categories": category["id"]}
    return make_customer(gateway, product["id"]), make_customer(gateway, product["id"]), public


@pytest.fixture(scope="module")
def spec(gateway: httpx.Client) -> dict[str, Any]:
    document: dict[str, Any] = gateway.get("/openapi.json").json()
    return document


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"} and (method, path) not in SKIP:
                yield method, path, operation


def resource_of(path: str) -> str:
    """The resource a path's id names: /api/orders/history/{order_id}/ -> orders."""
    return path.split("/")[2]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [s for s in schema[union] if s.get("type") != "null"]
            return resolve(spec, options[0])
    return schema


def sample_body(
    spec: dict[str, Any], schema: dict[str, Any], ids: dict[str, int]
) -> dict[str, Any]:
    """A valid body whose owned-resource fields carry `ids` (the victim's)."""
    schema = resolve(spec, schema)
    body: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = resolve(spec, prop)
        if name in OWNED_FIELDS:
            body[name] = ids[OWNED_FIELDS[name]]
        elif name == "product_id":
            body[name] = ids["products"]
        elif name == "category_id":
            body[name] = ids["categories"]
        elif name in SAMPLES:
            body[name] = SAMPLES[name]
        elif name == "card":
            body[name] = sample_body(spec, prop, ids)
        elif name in required:
            body[name] = {"integer": 1, "boolean": True}.get(prop.get("type", ""), "sweep")
    return body


def call(
    gateway: httpx.Client,
    spec: dict[str, Any],
    method: str,
    path: str,
    operation: dict[str, Any],
    *,
    target: dict[str, int],
    caller: Customer,
) -> httpx.Response:
    url = re.sub(r"\{[^}]+\}", str(target[resource_of(path)]), path)
    kwargs: dict[str, Any] = {}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = sample_body(spec, content["application/json"]["schema"], target)
    headers = {**caller.headers, "Idempotency-Key": uuid.uuid4().hex}
    return gateway.request(method.upper(), url, headers=headers, **kwargs)


def snapshot(gateway: httpx.Client, owner: Customer) -> dict[str, Any]:
    paths = {
        "shopping-carts": "/api/shopping-carts/{}/",
        "cart-items": "/api/cart-items/{}/",
        "wishlists": "/api/wishlists/{}/",
        "wishlist-items": "/api/wishlist-items/{}/",
        "order-items": "/api/order-items/{}/",
        "orders": "/api/orders/{}/",
        "payments": "/api/payments/{}/",
        "reviews": "/api/reviews/{}/",
        "users": "/api/users/{}/",
    }
    seen = {}
    for name, path in paths.items():
        answer = gateway.get(path.format(owner.ids[name]), headers=owner.headers)
        assert answer.status_code == 200, f"{name}: {answer.text}"
        seen[name] = answer.json()
    return seen


def test_no_customer_reaches_another_customers_resources(
    gateway: httpx.Client,
    spec: dict[str, Any],
    world: tuple[Customer, Customer, dict[str, int]],
) -> None:
    alice, bob, public = world
    alice_ids, bob_ids = {**public, **alice.ids}, {**public, **bob.ids}
    before = snapshot(gateway, alice)
    swept, failures = [], []
    for method, path, operation in operations(spec):
        body_fields = set()
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            schema = resolve(spec, content["application/json"]["schema"])
            body_fields = set(schema.get("properties", {})) & set(OWNED_FIELDS)
        if "{" not in path and not body_fields:
            continue
        resource = resource_of(path)
        if "{" in path and resource not in alice_ids:
            failures.append(f"{method} {path}: the sweep has no id of a {resource!r} resource")
            continue
        if resource in PUBLIC_READS and method == "get":
            continue  # anyone's to read
        answer = call(gateway, spec, method, path, operation, target=alice_ids, caller=bob)
        swept.append(f"{method} {path}")
        if answer.status_code == 403:
            # Refused to B's role: it must be refused on B's own resource all the same.
            own = call(gateway, spec, method, path, operation, target=bob_ids, caller=bob)
            if own.status_code != 403:
                failures.append(f"{method} {path}: 403 on A's, {own.status_code} on B's own")
        elif answer.status_code != 404:
            failures.append(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
    assert not failures, "\n".join(failures)
    assert len(swept) >= 25, swept  # the document really was swept
    assert snapshot(gateway, alice) == before


def test_list_filters_with_another_customers_ids_show_nothing(
    gateway: httpx.Client,
    spec: dict[str, Any],
    world: tuple[Customer, Customer, dict[str, int]],
) -> None:
    alice, bob, _ = world
    filtered = []
    for method, path, operation in operations(spec):
        if method != "get" or "{" in path or resource_of(path) in PUBLIC_READS:
            continue
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] != "query" or name not in QUERY_FILTERS:
                continue
            answer = gateway.get(
                path, params={name: alice.ids[QUERY_FILTERS[name]]}, headers=bob.headers
            )
            filtered.append(f"{path}?{name}")
            # 403: a filter only staff may use; 404: the filtered resource is not B's.
            assert answer.status_code in (200, 403, 404), f"{path}?{name}: {answer.text}"
            if answer.status_code == 200:
                assert answer.json()["results"] == [], f"{path}?{name} shows A's data"
    assert len(filtered) >= 4, filtered
