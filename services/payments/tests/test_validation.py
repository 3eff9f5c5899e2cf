"""Every validation rule of the payment request, and no 500 for any malformed body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payments_support import VISA, Headers, MakeOrder, card_body, count_payments, with_key

URL = "/api/payments/"
BANK = {"iban": "DE89370400440532013000", "holder_name": "A. Buyer"}


def paypal(order_id: int, email: Any) -> dict[str, Any]:
    return {"order_id": order_id, "method": "paypal", "paypal_email": email}


def bank(order_id: int, **account: Any) -> dict[str, Any]:
    return {"order_id": order_id, "method": "bank_transfer", "bank_account": {**BANK, **account}}


# (name, body for an order id, the loc of the error, its type)
INVALID: list[tuple[str, Any, list[Any], str]] = [
    (
        "luhn",
        lambda o: card_body(o, number="4242424242424241"),
        ["body", "card", "number"],
        "card_number_invalid",
    ),
    (
        "too short",
        lambda o: card_body(o, number="42424242"),
        ["body", "card", "number"],
        "card_number_invalid",
    ),
    (
        "letters",
        lambda o: card_body(o, number="4242abcd42424242"),
        ["body", "card", "number"],
        "card_number_invalid",
    ),
    (
        "expired",
        lambda o: card_body(o, exp_month=1, exp_year=2020),
        ["body", "card", "exp_year"],
        "card_expired",
    ),
    (
        "month 13",
        lambda o: card_body(o, exp_month=13),
        ["body", "card", "exp_month"],
        "less_than_equal",
    ),
    (
        "cvc 2 digits",
        lambda o: card_body(o, cvc="12"),
        ["body", "card", "cvc"],
        "string_pattern_mismatch",
    ),
    (
        "cvc 5 digits",
        lambda o: card_body(o, cvc="12345"),
        ["body", "card", "cvc"],
        "string_pattern_mismatch",
    ),
    (
        "cvc letters",
        lambda o: card_body(o, cvc="12a"),
        ["body", "card", "cvc"],
        "string_pattern_mismatch",
    ),
    (
        "cvc missing",
        lambda o: {**card_body(o), "card": {k: v for k, v in VISA.items() if k != "cvc"}},
        ["body", "card", "cvc"],
        "missing",
    ),
    ("email", lambda o: paypal(o, "not-an-email"), ["body", "paypal_email"], "value_error"),
    ("email domain", lambda o: paypal(o, "buyer@"), ["body", "paypal_email"], "value_error"),
    (
        "iban checksum",
        lambda o: bank(o, iban="DE00370400440532013000"),
        ["body", "bank_account", "iban"],
        "iban_checksum",
    ),
    (
        "iban format",
        lambda o: bank(o, iban="XX12"),
        ["body", "bank_account", "iban"],
        "iban_invalid",
    ),
    (
        "holder missing",
        lambda o: {**bank(o), "bank_account": {"iban": BANK["iban"]}},
        ["body", "bank_account", "holder_name"],
        "missing",
    ),
    ("card missing", lambda o: {"order_id": o, "method": "card"}, ["body", "card"], "missing"),
    (
        "details of another method",
        lambda o: {**card_body(o), "paypal_email": "a@example.com"},
        ["body", "paypal_email"],
        "extra_forbidden",
    ),
    (
        "unknown method",
        lambda o: {**card_body(o), "method": "cash"},
        ["body", "method"],
        "literal_error",
    ),
    ("unknown field", lambda o: {**card_body(o), "cvv": "123"}, ["body", "cvv"], "extra_forbidden"),
    (
        "order id missing",
        lambda o: {"method": "card", "card": VISA},
        ["body", "order_id"],
        "missing",
    ),
    ("order id too big", lambda o: card_body(2**63), ["body", "order_id"], "less_than_equal"),
    (
        "amount cents",
        lambda o: {**card_body(o), "amount": "12.345"},
        ["body", "amount"],
        "decimal_max_places",
    ),
]


@pytest.mark.parametrize(
    ("body", "loc", "kind"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
async def test_each_rule_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    body: Any,
    loc: list[Any],
    kind: str,
) -> None:
    response = await client.post(URL, json=body(await make_order()), headers=with_key(alice))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(e["loc"], e["type"]) for e in errors] == [(loc, kind)]
    assert "4242424242424241" not in response.text
    assert await count_payments(app) == 0


async def test_card_numbers_may_be_typed_in_groups(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder
) -> None:
    body = card_body(await make_order(), number="4242 4242-4242 4242", holder_name="A. Buyer")
    response = await client.post(URL, json=body, headers=with_key(alice))
    assert (response.status_code, response.json()["card_last4"]) == (202, "4242")


async def test_a_card_expiring_this_month_is_still_good(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder
) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    body = card_body(await make_order(), exp_month=now.month, exp_year=now.year)
    assert (await client.post(URL, json=body, headers=with_key(alice))).status_code == 202


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"null",
        b"[]",
        b'"card"',
        b"42",
        b'{"order_id": {}}',
        '{"x": "\udcff"}'.encode("utf-8", "surrogatepass"),
    ],
)
async def test_malformed_bodies_are_4xx(
    client: httpx.AsyncClient, alice: Headers, raw: bytes
) -> None:
    headers = {**with_key(alice), "Content-Type": "application/json"}
    response = await client.post(URL, content=raw, headers=headers)
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"


# Values of every JSON type, including near misses of valid ones.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "4242424242424242",
            "4000000000000002",
            "12.34",
            "NaN",
            "Infinity",
            "1e400",
            "a@example.com",
            "DE89370400440532013000",
            "card",
            "paypal",
            "bank_transfer",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, json_values)


cards = st.fixed_dictionaries(
    {},
    optional={
        "number": maybe(
            st.sampled_from(["4242424242424242", "4242 4242 4242 4242", "4000000000000119"])
        ),
        "exp_month": maybe(st.integers(min_value=0, max_value=13)),
        "exp_year": maybe(st.integers(min_value=1999, max_value=2101)),
        "cvc": maybe(st.from_regex(r"\A\d{2,5}\Z")),
        "holder_name": json_values,
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "order_id": maybe(st.sampled_from([1001, 1, 0, -1, 2**63])),
        "method": maybe(st.sampled_from(["card", "paypal", "bank_transfer"])),
        "amount": json_values,
        "card": maybe(cards),
        "paypal_email": maybe(st.emails()),
        "bank_account": maybe(
            st.fixed_dictionaries({"iban": json_values, "holder_name": json_values})
        ),
        "extra": json_values,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.one_of(bodies, json_values))
async def test_no_body_makes_a_500(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder, body: Any
) -> None:
    await make_order(order_id=1001)
    response = await client.post(
        URL,
        content=json.dumps(body),
        headers={**with_key(alice), "Content-Type": "application/json"},
    )
    assert response.status_code in (202, 400, 404, 409, 422), response.text
