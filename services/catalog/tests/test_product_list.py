"""GET /api/products/: filters, full-text search, ordering, keyset pages, no N+1."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.testing import count_statements


async def names(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.get(f"/api/products/?{query}")
    assert response.status_code == 200, response.text
    return [p["name"] for p in response.json()["results"]]


@pytest.fixture
async def shop(make_category: Any, make_product: Any) -> dict[str, Any]:
    books = await make_category("Books")
    fiction = await make_category("Fiction", parent_id=books.id)
    scifi = await make_category("Science fiction", parent_id=fiction.id)
    music = await make_category("Music")
    await make_product(
        "Dune",
        price="9.99",
        stock_quantity=4,
        category_id=scifi.id,
        description="A desert planet, spice and sandworms.",
    )
    await make_product(
        "Emma",
        price="5.50",
        stock_quantity=0,
        category_id=fiction.id,
        description="Matchmaking in a small English village.",
    )
    await make_product(
        "Atlas of Deserts",
        price="42.00",
        stock_quantity=2,
        category_id=books.id,
        description="Maps and photographs.",
    )
    await make_product(
        "Blue Train",
        price="15.00",
        stock_quantity=7,
        category_id=music.id,
        description="Hard bop from 1957.",
    )
    return {"books": books, "fiction": fiction, "scifi": scifi, "music": music}


async def test_category_filter_includes_descendants(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    assert sorted(await names(client, f"category={shop['books'].id}")) == [
        "Atlas of Deserts",
        "Dune",
        "Emma",
    ]
    assert sorted(await names(client, f"category={shop['fiction'].id}")) == ["Dune", "Emma"]
    assert await names(client, f"category={shop['scifi'].id}") == ["Dune"]
    assert await names(client, "category=999999") == []


async def test_price_and_stock_filters(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    assert sorted(await names(client, "min_price=9.99&max_price=15")) == ["Blue Train", "Dune"]
    assert await names(client, "min_price=40") == ["Atlas of Deserts"]
    assert await names(client, "in_stock=false") == ["Emma"]
    assert "Emma" not in await names(client, "in_stock=true")


async def test_search_is_full_text_and_ranked(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    # A match in the name (weight A) outranks one in the description (weight B).
    assert await names(client, "search=desert") == ["Atlas of Deserts", "Dune"]
    assert await names(client, "search=sandworms") == ["Dune"]
    assert await names(client, "search=desert -maps") == ["Dune"]
    assert await names(client, "search=nothing+matches+this") == []
    assert await names(client, "search=desert&ordering=price") == ["Dune", "Atlas of Deserts"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("price", ["Emma", "Dune", "Blue Train", "Atlas of Deserts"]),
        ("-price", ["Atlas of Deserts", "Blue Train", "Dune", "Emma"]),
        ("name", ["Atlas of Deserts", "Blue Train", "Dune", "Emma"]),
        ("-name", ["Emma", "Dune", "Blue Train", "Atlas of Deserts"]),
        ("created_at", ["Dune", "Emma", "Atlas of Deserts", "Blue Train"]),
        ("-created_at", ["Blue Train", "Atlas of Deserts", "Emma", "Dune"]),
    ],
)
async def test_orderings(
    client: httpx.AsyncClient, shop: dict[str, Any], ordering: str, expected: list[str]
) -> None:
    assert await names(client, f"ordering={ordering}") == expected


@pytest.mark.parametrize(
    "query",
    [
        "ordering=id",
        "ordering=price;drop",
        "min_price=-1",
        "min_price=abc",
        "max_price=1.001",
        "min_price=10&max_price=5",
        "in_stock=maybe",
        "category=0",
        "limit=0",
        "limit=101",
        "cursor=%%%",
        "search=" + "x" * 201,
    ],
)
async def test_bad_query_is_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/products/?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def walk(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    pages = []
    next_url: str | None = url
    while next_url:
        body = (await client.get(next_url)).json()
        pages.append(body)
        next_url = body["next"]
    return pages


@pytest.mark.parametrize("ordering", ["price", "-price", "name", "-created_at", None])
async def test_pages_to_the_end_without_duplicates_or_gaps(
    client: httpx.AsyncClient, make_category: Any, make_product: Any, ordering: str | None
) -> None:
    category = await make_category()
    for i in range(23):
        # Repeated prices and names force the id tie-breaker to do its job.
        await make_product(f"Item {i % 5}", price=Decimal(i % 4), category_id=category.id)
    order = f"&ordering={ordering}" if ordering else ""
    pages = await walk(client, f"/api/products/?limit=5{order}")
    ids = [p["id"] for page in pages for p in page["results"]]
    assert len(ids) == len(set(ids)) == 23
    assert [len(page["results"]) for page in pages] == [5, 5, 5, 5, 3]
    everything = (await client.get(f"/api/products/?limit=100{order}")).json()
    assert ids == [p["id"] for p in everything["results"]]
    # And back again from the last page.
    back = []
    previous: str | None = pages[-1]["previous"]
    while previous:
        body = (await client.get(previous)).json()
        back = [p["id"] for p in body["results"]] + back
        previous = body["previous"]
    assert back + [p["id"] for p in pages[-1]["results"]] == ids


async def test_rows_inserted_between_pages_cause_no_duplicates_or_gaps(
    client: httpx.AsyncClient, staff: dict[str, str], make_category: Any, make_product: Any
) -> None:
    category = await make_category()
    for i in range(10):
        await make_product(f"Old {i}", price=Decimal(10 + i), category_id=category.id)
    first = (await client.get("/api/products/?limit=4&ordering=price")).json()
    # Cheaper and pricier products arrive while the client reads page 1.
    for price in ("1.00", "13.50", "99.00"):
        created = await client.post(
            "/api/products/",
            json={
                "name": f"New {price}",
                "price": price,
                "stock_quantity": 1,
                "category_id": category.id,
            },
            headers=staff,
        )
        assert created.status_code == 201
    rest = await walk(client, first["next"])
    seen = [p["name"] for p in first["results"]] + [
        p["name"] for page in rest for p in page["results"]
    ]
    # Every old row exactly once, in price order, with the new rows that sort after the
    # page-1 edge; "New 1.00" sorts before it, so the pages walked forward never show it.
    assert seen == [
        "Old 0",
        "Old 1",
        "Old 2",
        "Old 3",
        "New 13.50",
        "Old 4",
        "Old 5",
        "Old 6",
        "Old 7",
        "Old 8",
        "Old 9",
        "New 99.00",
    ]


async def test_list_runs_one_statement_per_page_whatever_its_size(
    client: httpx.AsyncClient, app: FastAPI, make_category: Any, make_product: Any
) -> None:
    counts = []
    for size in (2, 40):
        category = await make_category(f"Size {size}")
        for i in range(size):
            await make_product(f"P{size}-{i}", category_id=category.id)
        # Searches run on the public pool (shared.db.public_read_session).
        with count_statements(app.state.public_engine) as counter:
            response = await client.get(
                f"/api/products/?category={category.id}&limit=100&search=p{size}"
            )
            assert response.status_code == 200
        counts.append(counter.count)
    assert counts == [1, 1]


async def test_a_cursor_of_another_ordering_is_422(
    client: httpx.AsyncClient, make_product: Any
) -> None:
    await make_product()
    # A well-formed cursor whose key does not fit the price ordering (made by hand).
    cursor = base64.urlsafe_b64encode(json.dumps({"k": ["x", 1], "d": "next"}).encode()).decode()
    response = await client.get(f"/api/products/?ordering=price&cursor={cursor}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]
