"""/api/reviews/: one per user per product, owners edit, aggregates stay right."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from catalog.db.tables import Product, Review
from shared.testing import bearer


async def test_create_read_and_aggregate(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str], make_product: Any
) -> None:
    product = await make_product()
    created = await client.post(
        "/api/reviews/",
        json={"product_id": product.id, "rating": 5, "comment": "Great"},
        headers=alice,
    )
    assert created.status_code == 201
    review = created.json()
    assert review["user_id"] == 2
    assert review["rating"] == 5
    await client.post("/api/reviews/", json={"product_id": product.id, "rating": 2}, headers=bob)

    detail = (await client.get(f"/api/products/{product.id}/")).json()
    assert detail["rating_avg"] == "3.50"
    assert detail["review_count"] == 2
    assert (await client.get(f"/api/reviews/{review['id']}/")).json()["comment"] == "Great"
    listed = (await client.get(f"/api/reviews/?product={product.id}")).json()["results"]
    assert [r["rating"] for r in listed] == [2, 5]  # newest first


async def test_one_review_per_user_per_product(
    client: httpx.AsyncClient, alice: dict[str, str], make_product: Any, app: FastAPI
) -> None:
    product = await make_product()
    body = {"product_id": product.id, "rating": 4}
    assert (await client.post("/api/reviews/", json=body, headers=alice)).status_code == 201
    second = await client.post("/api/reviews/", json={**body, "rating": 1}, headers=alice)
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(select(Product.rating_sum, Product.review_count))).one() == (
            4,
            1,
        )


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 5},
        {"product_id": 1, "rating": 0},
        {"product_id": 1, "rating": 6},
        {"product_id": 1, "rating": "five"},
        {"product_id": 1, "rating": 3, "comment": "x" * 5001},
        {"product_id": 999999, "rating": 3},
    ],
)
async def test_invalid_review_is_422(
    client: httpx.AsyncClient, alice: dict[str, str], make_product: Any, body: dict[str, Any]
) -> None:
    await make_product()
    response = await client.post("/api/reviews/", json=body, headers=alice)
    assert response.status_code == 422
    assert (await client.get("/api/reviews/")).json()["results"] == []


async def test_anonymous_cannot_review(client: httpx.AsyncClient, make_product: Any) -> None:
    product = await make_product()
    response = await client.post("/api/reviews/", json={"product_id": product.id, "rating": 3})
    assert response.status_code == 401


async def test_only_the_author_edits_and_staff_may_delete(
    client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
    staff: dict[str, str],
    make_product: Any,
) -> None:
    product = await make_product()
    review = (
        await client.post(
            "/api/reviews/", json={"product_id": product.id, "rating": 2}, headers=alice
        )
    ).json()
    url = f"/api/reviews/{review['id']}/"
    assert (await client.patch(url, json={"rating": 5}, headers=bob)).status_code == 404
    assert (await client.delete(url, headers=bob)).status_code == 404
    assert (await client.patch(url, json={"rating": 5}, headers=staff)).status_code == 404

    edited = await client.patch(url, json={"rating": 4, "comment": "Better"}, headers=alice)
    assert edited.status_code == 200
    assert edited.json()["rating"] == 4
    assert (await client.get(f"/api/products/{product.id}/")).json()["rating_avg"] == "4.00"
    assert (await client.patch(url, json={"rating": 9}, headers=alice)).status_code == 422

    assert (await client.delete(url, headers=staff)).status_code == 204
    detail = (await client.get(f"/api/products/{product.id}/")).json()
    assert detail["review_count"] == 0
    assert detail["rating_avg"] is None
    assert (await client.get(url)).status_code == 404


async def test_concurrent_reviews_keep_aggregates_exact(
    client: httpx.AsyncClient, app: FastAPI, make_product: Any, mint_token: Callable[..., str]
) -> None:
    product = await make_product()
    ratings = [1 + i % 5 for i in range(30)]
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/reviews/",
                json={"product_id": product.id, "rating": rating},
                headers=bearer(mint_token(100 + i)),
            )
            for i, rating in enumerate(ratings)
        )
    )
    assert {r.status_code for r in responses} == {201}
    async with app.state.engine.connect() as conn:
        total, count = (await conn.execute(select(Product.rating_sum, Product.review_count))).one()
        stored = (await conn.execute(select(Review.rating))).scalars().all()
    assert (total, count) == (sum(ratings), 30) == (sum(stored), len(stored))


async def test_text_with_a_nul_character_is_422_and_writes_nothing(
    client: httpx.AsyncClient, alice: dict[str, str], staff: dict[str, str], make_product: Any
) -> None:
    product = await make_product()
    review = await client.post(
        "/api/reviews/",
        json={"product_id": product.id, "rating": 4, "comment": "nul \x00 inside"},
        headers=alice,
    )
    assert review.status_code == 422
    assert review.headers["content-type"] == "application/problem+json"
    category = await client.post("/api/categories/", json={"name": "a\x00b"}, headers=staff)
    assert category.status_code == 422
    assert (await client.get("/api/reviews/")).json()["results"] == []
    assert (await client.get(f"/api/products/{product.id}/")).json()["review_count"] == 0
