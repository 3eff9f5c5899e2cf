"""Public reads are bounded in cost, through the real nginx: a search's shape is checked
before it runs, searches run on their own small pool with a short statement timeout, and
a cancelled or queued-out search is a 503 problem+json while other requests carry on."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from shared.dbadmin import admin_url

PROBLEM = "application/problem+json"
# More concurrent searches than the whole main pool has connections (10 per process).
SEARCHES = 14


@pytest.mark.parametrize(
    ("search", "code"),
    [
        (" ".join(f"-a{c}" for c in "bcdefghijklmnopqrstuvwxyz"), "search_too_long"),
        ("-chair -table", "search_only_negated"),
        ('-"walnut chair"', "search_only_negated"),
        (" or ".join(["oak", "ash", "elm", "fir", "yew", "box"]), "search_too_complex"),
    ],
)
def test_expensive_search_shapes_are_422(gateway: httpx.Client, search: str, code: str) -> None:
    response = gateway.get("/api/products/", params={"search": search})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"] == ["query", "search"]
    assert response.json()["errors"][0]["type"] == code


def test_ordinary_searches_pass(gateway: httpx.Client) -> None:
    for search in ["walnut chair", '"oak table" -pine', "oak or ash", "-pine oak"]:
        assert gateway.get("/api/products/", params={"search": search}).status_code == 200


async def test_stuck_searches_neither_starve_other_requests_nor_answer_500(
    stack: Any, test_database: str
) -> None:
    # The products table locked: every search waits in PostgreSQL, as a slow one would.
    holder = await asyncpg.connect(admin_url(), database=test_database)
    try:
        locked = holder.transaction()
        await locked.start()
        await holder.execute("LOCK TABLE catalog.products IN ACCESS EXCLUSIVE MODE")
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
            searches = [
                asyncio.create_task(
                    client.get("/api/products/", params={"search": f"w{uuid.uuid4().hex[:8]}"})
                )
                for _ in range(SEARCHES)
            ]
            await asyncio.sleep(0.5)  # let them take what connections they can
            # A read that needs the main pool (not products) answers while they are stuck:
            # an Authorization header keeps nginx's micro-cache out of it.
            other = await client.get(
                "/api/categories/",
                params={"limit": 7},
                headers={"Authorization": "Bearer not-checked-here"},
                timeout=15,
            )
            assert other.status_code == 200, other.text
            answers = await asyncio.gather(*searches)
        await locked.rollback()
    finally:
        await holder.close()
    assert {a.status_code for a in answers} == {503}
    assert {a.headers["content-type"] for a in answers} == {PROBLEM}
    slugs = {a.json()["type"] for a in answers}
    assert slugs <= {"/problems/query-timeout", "/problems/busy"}
    assert "/problems/query-timeout" in slugs  # the ones that ran were cancelled
    assert all(a.headers["Retry-After"] == "1" for a in answers)
