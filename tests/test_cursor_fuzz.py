"""Cursors a client made up, on every keyset list of the merged OpenAPI document, through
nginx: each is a 422 problem+json (or, if it happens to name a real position, a page),
never a 500. The lists are found in the document, so a new list is covered by itself."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.testing import bearer
from tests.conftest import Stack

PROBLEM = "application/problem+json"
# `make fuzz` raises it.
EXAMPLES = int(os.environ.get("SHOP_CURSOR_FUZZ_EXAMPLES", "300"))
# Keys that reached asyncpg before and answered 500: above int64, a price of Infinity,
# dates outside every range, NUL in a string, a lone surrogate, deep nesting.
FORGED_KEYS: list[Any] = [
    2**63,
    -(2**63) - 1,
    10**30,
    "Infinity",
    "NaN",
    "1e999999",
    "-0.001",
    float("inf"),
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+05:00",
    "2024-01-01T00:00:00",
    "99999-01-01",
    "a\x00b",
    "\ud800",
    True,
    None,
    [1],
    {"a": 1},
]


def encode(raw: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def keyset_lists(stack: Stack) -> list[str]:
    """Every GET path of the public document that takes a `cursor`, with no path params."""
    document = httpx.get(f"{stack.url}/openapi.json", timeout=30).json()
    paths = [
        path
        for path, item in document["paths"].items()
        if "get" in item
        and "{" not in path
        and any(p["name"] == "cursor" for p in item["get"].get("parameters", []))
    ]
    assert len(paths) >= 12, paths  # every service's lists, and the document names them
    return sorted(paths)


@pytest.fixture(scope="module")
def staff_client(stack: Stack, mint_token: Callable[..., str]) -> Iterator[httpx.Client]:
    headers = bearer(mint_token(900_001, staff=True))
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        yield client


def assert_refused_or_served(response: httpx.Response, cursor: str) -> None:
    assert response.status_code < 500, (cursor, response.text)
    if response.status_code != 200:
        assert response.status_code == 422, (cursor, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 422


def test_forged_cursors_are_422_on_every_keyset_list(
    keyset_lists: list[str], staff_client: httpx.Client
) -> None:
    for path in keyset_lists:
        for key in FORGED_KEYS:
            for values in ([key], [key, 1], [1, key]):  # lists key on one or two columns
                cursor = encode({"k": values, "d": "next"})
                response = staff_client.get(path, params={"cursor": cursor})
                assert response.status_code == 422, (path, values, response.text)
                assert response.headers["content-type"] == PROBLEM


def walk(client: httpx.Client, path: str, params: dict[str, str]) -> bool:
    """Page 1, its `next`, and back: True when the list had a second page to walk."""
    first = client.get(path, params={**params, "limit": "1"})
    assert first.status_code == 200, (path, first.text)
    next_link = first.json()["next"]
    if next_link is None:
        return False
    assert next_link.startswith(path), next_link  # relative, and to the same list
    second = client.get(next_link)
    assert second.status_code == 200, (path, second.text)
    assert second.json()["results"] != first.json()["results"]
    back = client.get(second.json()["previous"])
    assert back.status_code == 200, (path, back.text)
    assert back.json()["results"] == first.json()["results"]
    return True


def test_issued_cursors_still_walk_every_list(
    keyset_lists: list[str], staff_client: httpx.Client
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    for suffix in ("b", "a"):  # two: the category lists have a second page
        category = staff_client.post("/api/categories/", json={"name": f"walk-{word}-{suffix}"})
        assert category.status_code == 201, category.text
    for i, price in enumerate(("10.50", "7.25")):
        product = staff_client.post(
            "/api/products/",
            json={
                "name": f"{word} lamp {i}",
                "description": f"a {word} lamp",
                "price": price,
                "stock_quantity": i,
                "category_id": category.json()["id"],
            },
        )
        assert product.status_code == 201, product.text
    walked = {path for path in keyset_lists if walk(staff_client, path, {})}
    assert {"/api/categories/", "/api/products/", "/api/reports/low-stock/"} <= walked
    # Every key type of the product list: rank (REAL), price, name, timestamps.
    for params in (
        {"search": word},
        {"search": word, "ordering": "price"},
        {"search": word, "ordering": "-name"},
        {"search": word, "ordering": "created_at"},
    ):
        assert walk(staff_client, "/api/products/", params), params


def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=3), children, max_size=2)
    )


json_keys = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.datetimes().map(lambda d: d.isoformat())
    | st.decimals(allow_nan=True, allow_infinity=True).map(str),
    extend,
    max_leaves=4,
)
cursors = (
    st.builds(
        lambda keys, direction: encode({"k": keys, "d": direction}),
        st.lists(json_keys, max_size=3),
        st.sampled_from(["next", "prev", "up", 1]),
    )
    | st.dictionaries(st.text(max_size=3), json_keys, max_size=3).map(encode)
    | st.text(max_size=60)
    | st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode())
)


def test_fuzzed_cursors_never_reach_the_database(
    keyset_lists: list[str], staff_client: httpx.Client
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(path=st.sampled_from(keyset_lists), cursor=cursors)
    def one(path: str, cursor: str) -> None:
        response = staff_client.get(path, params={"cursor": cursor})
        assert_refused_or_served(response, cursor)

    one()
