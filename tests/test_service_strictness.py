"""Service-side input rules through the real nginx: strict JSON types in every service,
authentication before the body is parsed, one 400 problem type, documented in the merged
OpenAPI document with the rules partners need (passwords, decimals, card for card)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.testing import bearer

PROBLEM = "application/problem+json"
STAFF_ID, CUSTOMER_ID = 900_002, 900_003


@pytest.fixture(scope="module")
def staff(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(STAFF_ID, staff=True))


@pytest.fixture(scope="module")
def customer(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(CUSTOMER_ID))


CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/products/", {"stock_quantity": False}, "stock_quantity"),
        ("POST", "/api/products/", {"stock_quantity": "3"}, "stock_quantity"),
        ("POST", "/api/products/", {"category_id": True}, "category_id"),
        ("POST", "/api/categories/", {"name": "x", "parent_id": "1"}, "parent_id"),
        ("POST", "/api/reviews/", {"product_id": 1, "rating": True}, "rating"),
        ("POST", "/api/payments/", {"order_id": "1", "method": "card", "card": CARD}, "order_id"),
        (
            "POST",
            "/api/payments/",
            {"order_id": 1, "method": "card", "card": {**CARD, "exp_month": 12.0}},
            "exp_month",
        ),
        ("PATCH", "/api/users/1/", {"is_staff": "true"}, "is_staff"),
        ("PATCH", "/api/users/1/", {"is_active": 0}, "is_active"),
    ],
)
def test_json_bodies_are_strictly_typed(
    gateway: httpx.Client,
    staff: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    product = {"name": "Strict", "price": "1.00", "stock_quantity": 1, "category_id": 1}
    payload = {**product, **body} if path == "/api/products/" else body
    headers = {**staff, "Idempotency-Key": "strict-types"}
    response = gateway.request(method, path, json=payload, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert any(e["loc"][-1] == field for e in response.json()["errors"]), response.text


WRITES = [
    ("POST", "/api/products/"),
    ("POST", "/api/categories/"),
    ("POST", "/api/reviews/"),
    ("POST", "/api/cart-items/"),
    ("POST", "/api/orders/"),
    ("POST", "/api/payments/"),
    ("PATCH", "/api/users/me/"),
    ("PATCH", "/api/users/1/"),
]
STAFF_ONLY = {"/api/products/", "/api/categories/", "/api/users/1/"}


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_authentication_comes_before_the_body(
    gateway: httpx.Client,
    staff: dict[str, str],
    customer: dict[str, str],
    method: str,
    path: str,
) -> None:
    broken = {"content-type": "application/json", "Idempotency-Key": "k-1"}
    anonymous = gateway.request(method, path, content=b'{"name": ', headers=broken)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["content-type"] == PROBLEM
    as_customer = gateway.request(method, path, content=b"{", headers={**broken, **customer})
    assert as_customer.status_code == (403 if path in STAFF_ONLY else 400), as_customer.text
    as_staff = gateway.request(method, path, content=b"{", headers={**broken, **staff})
    assert as_staff.status_code == 400
    assert as_staff.json()["type"] == "/problems/bad-request"


def test_the_merged_document_states_the_rules(gateway: httpx.Client) -> None:
    spec = gateway.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    with_body = [
        (path, verb, operation)
        for path, item in spec["paths"].items()
        for verb, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert len(with_body) > 10
    for path, verb, operation in with_body:
        bad = operation["responses"].get("400")
        assert bad is not None, f"{verb} {path} documents no 400"
        assert "/problems/bad-request" in bad["description"]
        assert "Problem" in str(bad["content"])

    def field(model: str, name: str) -> dict[str, Any]:
        found = next(v for k, v in schemas.items() if k.endswith(model))
        described: dict[str, Any] = found["properties"][name]
        return described

    password = field("RegisterRequest", "password")["description"]
    assert "8 characters" in password
    assert "72 bytes" in password
    assert "Required when `method` is `card`" in field("PaymentIn", "card")["description"]
    assert "9999999999.99" in str(field("ProductIn", "price"))
    assert "2 after" in field("PaymentIn", "amount")["description"]
