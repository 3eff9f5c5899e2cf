"""Product pages and lists come from Redis, carry ETags, and never outlive a write."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from catalog.db.cache import ProductCache
from shared.testing import count_statements


async def test_detail_is_cached_and_a_write_shows_at_once(
    client: httpx.AsyncClient, app: FastAPI, staff: dict[str, str], make_product: Any
) -> None:
    product = await make_product("Dune", price="9.99")
    url = f"/api/products/{product.id}/"
    assert (await client.get(url)).json()["price"] == "9.99"
    with count_statements(app.state.engine) as counter:
        again = await client.get(url)
    assert again.json()["price"] == "9.99"
    assert counter.count == 0  # served from Redis

    await client.patch(url, json={"price": "11.50"}, headers=staff)
    assert (await client.get(url)).json()["price"] == "11.50"


async def test_list_is_cached_and_invalidated_by_product_writes(
    client: httpx.AsyncClient, app: FastAPI, staff: dict[str, str], make_product: Any
) -> None:
    product = await make_product("Dune", stock_quantity=3)
    assert (await client.get("/api/products/")).json()["results"][0]["stock_quantity"] == 3
    with count_statements(app.state.engine) as counter:
        await client.get("/api/products/")
    assert counter.count == 0

    await client.patch(f"/api/products/{product.id}/", json={"stock_quantity": 0}, headers=staff)
    assert (await client.get("/api/products/")).json()["results"][0]["in_stock"] is False
    await client.delete(f"/api/products/{product.id}/", headers=staff)
    assert (await client.get("/api/products/")).json()["results"] == []


async def test_review_changes_the_cached_rating(
    client: httpx.AsyncClient, alice: dict[str, str], make_product: Any
) -> None:
    product = await make_product()
    url = f"/api/products/{product.id}/"
    assert (await client.get(url)).json()["rating_avg"] is None
    await client.post("/api/reviews/", json={"product_id": product.id, "rating": 4}, headers=alice)
    assert (await client.get(url)).json()["rating_avg"] == "4.00"


async def test_etag_and_if_none_match(
    client: httpx.AsyncClient, staff: dict[str, str], make_product: Any
) -> None:
    product = await make_product()
    url = f"/api/products/{product.id}/"
    first = await client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    not_modified = await client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    weak = await client.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304

    await client.patch(url, json={"name": "Renamed"}, headers=staff)
    changed = await client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag

    listing = await client.get("/api/products/")
    assert (
        await client.get("/api/products/", headers={"If-None-Match": listing.headers["etag"]})
    ).status_code == 304


async def test_concurrent_misses_hit_the_database_once(
    client: httpx.AsyncClient, app: FastAPI, make_product: Any
) -> None:
    product = await make_product()
    with count_statements(app.state.engine) as counter:
        responses = await asyncio.gather(
            *(client.get(f"/api/products/{product.id}/") for _ in range(20))
        )
    assert {r.status_code for r in responses} == {200}
    assert counter.count == 1


async def test_unknown_product_is_not_cached_as_found(
    client: httpx.AsyncClient, make_product: Any
) -> None:
    assert (await client.get("/api/products/1/")).status_code == 404
    product = await make_product()
    assert product.id == 1
    assert (await client.get("/api/products/1/")).status_code == 200


async def test_replicas_missing_together_rebuild_an_entry_once(app: FastAPI) -> None:
    """Two replicas (two caches on one Redis) missing the same page: one rebuilds it, the
    other waits for its result instead of reading the database too."""
    replicas = [
        ProductCache(
            app.state.redis, product_ttl_seconds=30, list_ttl_seconds=30, fill_wait_seconds=2
        )
        for _ in "ab"
    ]
    computed = 0
    release = asyncio.Event()

    async def compute() -> str:
        nonlocal computed
        computed += 1
        await release.wait()  # slow enough that every reader misses first
        return '{"id": 1}'

    readers = [
        asyncio.create_task(replica.product(1, compute)) for replica in replicas for _ in range(5)
    ]
    await asyncio.sleep(0.1)
    release.set()
    assert await asyncio.gather(*readers) == ['{"id": 1}'] * 10
    assert computed == 1
    assert await replicas[1].product(1, compute) == '{"id": 1}'  # now a plain hit
    assert computed == 1


async def test_a_failed_rebuild_lets_the_next_reader_rebuild_at_once(app: FastAPI) -> None:
    cache = ProductCache(
        app.state.redis, product_ttl_seconds=30, list_ttl_seconds=30, fill_wait_seconds=30
    )

    async def fail() -> str:
        raise RuntimeError("database went away")

    async def compute() -> str:
        return "{}"

    with pytest.raises(RuntimeError):
        await cache.product(1, fail)
    # The fill lock went with the failure: nobody waits 30 s for a lock nobody releases.
    assert await app.state.redis.keys("*:filling") == []
    assert await cache.product(1, compute) == "{}"


async def test_product_pages_outlive_list_pages_in_redis(
    client: httpx.AsyncClient, app: FastAPI, make_product: Any
) -> None:
    product = await make_product()
    await client.get(f"/api/products/{product.id}/")
    await client.get("/api/products/")
    redis = app.state.redis
    [page] = await redis.keys(f"catalog:cache:product:{product.id}:v*")
    [listing] = await redis.keys("catalog:cache:products:list:*")
    settings = app.state.settings
    assert settings.cache_ttl_seconds < await redis.ttl(page) <= settings.product_cache_ttl_seconds
    assert 0 < await redis.ttl(listing) <= settings.cache_ttl_seconds
