"""The fast path for cached pages answers exactly what the routes would, and only hits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import Message, Receive, Scope, Send

from catalog.api.fast_reads import CachedReads
from catalog.main import create_app
from catalog.settings import CatalogSettings

# Headers that differ between any two responses, whoever answers: the shared cache's
# validity is drawn per answer (`_fresh` checks it).
VOLATILE = {"x-request-id", "date", "cache-control"}
CACHE_CONTROL = re.compile(r"public, max-age=1, s-maxage=([0-9]+)")


def _fresh(headers: Mapping[str, str]) -> int:
    """The answer's shared-cache validity, within the settings' range."""
    match = CACHE_CONTROL.fullmatch(headers["cache-control"])
    assert match is not None, headers["cache-control"]
    defaults = CatalogSettings()
    seconds = int(match.group(1))
    assert defaults.shared_cache_min_seconds <= seconds <= defaults.shared_cache_max_seconds
    return seconds


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code
    assert a.content == b.content
    assert {k: v for k, v in a.headers.items() if k not in VOLATILE} == {
        k: v for k, v in b.headers.items() if k not in VOLATILE
    }
    _fresh(a.headers)
    _fresh(b.headers)


class Route:
    """Stands in for the routing behind the fast path: records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _through_fast_path(
    app: FastAPI, path: str, *, query: str = "", headers: dict[str, str] | None = None
) -> tuple[Route, list[Message]]:
    route = Route()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "scheme": "http",
        "server": ("testserver", 80),
        "app": app,
    }
    await CachedReads(route)(scope, receive, send)
    return route, sent


async def test_a_hit_is_answered_without_the_route(app: FastAPI, make_product: Any) -> None:
    product = await make_product("Dune")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        routed = await client.get(f"/api/products/{product.id}/")  # a miss: the route fills
    route, sent = await _through_fast_path(app, f"/api/products/{product.id}/")
    assert route.calls == []
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == routed.content
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    _fresh(headers)
    assert {k: v for k, v in headers.items() if k not in VOLATILE} == {
        k: v for k, v in routed.headers.items() if k not in VOLATILE | {"x-served-by"}
    }


async def test_shared_validity_is_spread_over_the_range(
    client: httpx.AsyncClient, make_product: Any
) -> None:
    """Pages cached in the same second must not all expire in the same second."""
    product = await make_product()
    url = f"/api/products/{product.id}/"
    await client.get(url)  # the route fills the cache; the rest are fast-path hits
    seen = {_fresh((await client.get(url)).headers) for _ in range(60)}
    seen |= {_fresh((await client.get("/api/products/")).headers) for _ in range(60)}
    defaults = CatalogSettings()
    # 120 draws from 5 values: each is missed with probability (4/5)**120, about 2e-12.
    assert seen == set(
        range(defaults.shared_cache_min_seconds, defaults.shared_cache_max_seconds + 1)
    )


def test_a_shared_validity_range_upside_down_is_refused() -> None:
    with pytest.raises(ValueError, match="shared_cache_max_seconds"):
        CatalogSettings(shared_cache_min_seconds=5, shared_cache_max_seconds=4)


async def test_a_miss_goes_to_the_route_and_takes_no_fill_lock(
    app: FastAPI, make_product: Any
) -> None:
    product = await make_product()
    route, _ = await _through_fast_path(app, f"/api/products/{product.id}/")
    assert route.calls == [f"/api/products/{product.id}/"]
    assert await app.state.redis.keys("*:filling") == []


@pytest.mark.parametrize(
    "path",
    ["/api/products/0/", "/api/products/abc/", "/api/products/99999999999999999999/"],
)
async def test_ids_the_route_refuses_go_to_the_route(app: FastAPI, path: str) -> None:
    route, _ = await _through_fast_path(app, path)
    assert route.calls == [path]


async def test_hits_miss_and_304_match_the_route(
    client: httpx.AsyncClient, make_product: Any
) -> None:
    product = await make_product()
    url = f"/api/products/{product.id}/"
    miss, hit = await client.get(url), await client.get(url)
    _same(miss, hit)
    etag = hit.headers["etag"]
    fast_304 = await client.get(url, headers={"If-None-Match": f'"x", W/{etag}'})
    assert fast_304.status_code == 304
    assert fast_304.content == b""
    assert fast_304.headers["etag"] == etag
    assert "content-type" not in fast_304.headers
    assert (await client.get(url, headers={"If-None-Match": '"other"'})).status_code == 200

    listing, again = await client.get("/api/products/"), await client.get("/api/products/")
    _same(listing, again)
    listing_304 = await client.get("/api/products/", headers={"If-None-Match": "*"})
    assert listing_304.status_code == 304


async def test_an_unknown_product_is_the_routes_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    route, _ = await _through_fast_path(app, "/api/products/12345/")
    assert route.calls == ["/api/products/12345/"]
    response = await client.get("/api/products/12345/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_write_makes_the_fast_path_miss(
    app: FastAPI, client: httpx.AsyncClient, staff: dict[str, str], make_product: Any
) -> None:
    product = await make_product(price="9.99")
    url = f"/api/products/{product.id}/"
    await client.get(url)
    await client.get("/api/products/")
    await client.patch(url, json={"price": "11.50"}, headers=staff)
    # The generation moved on: the old entries are never served again.
    route, _ = await _through_fast_path(app, url)
    assert route.calls == [url]
    route, _ = await _through_fast_path(app, "/api/products/")
    assert route.calls == ["/api/products/"]
    assert (await client.get(url)).json()["price"] == "11.50"
    assert (await client.get("/api/products/")).json()["results"][0]["price"] == "11.50"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "category=0",
        "min_price=-1",
        "min_price=1.234",
        "min_price=5&max_price=1",
        "in_stock=maybe",
        "ordering=stock",
        "search=" + "x" * 201,
    ],
)
async def test_invalid_parameters_are_the_routes_422_even_with_a_page_cached(
    app: FastAPI, client: httpx.AsyncClient, make_product: Any, query: str
) -> None:
    await make_product()
    assert (await client.get("/api/products/")).status_code == 200  # cached now
    route, _ = await _through_fast_path(app, "/api/products/", query=query)
    assert route.calls == ["/api/products/"]
    response = await client.get(f"/api/products/?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "limit=2",
        "limit=002&ordering=price",
        "category=1&in_stock=TRUE",
        "min_price=1.5&max_price=100",
        "search=%20dune%20",
        "limit=5&limit=2",
        "in_stock=false",
        "ordering=name",
    ],
)
async def test_the_fast_path_answers_what_the_route_answered(
    app: FastAPI, client: httpx.AsyncClient, make_product: Any, query: str
) -> None:
    for i in range(3):
        await make_product(f"Dune {i}", price=f"{i + 2}.00")
    expected = await client.get(f"/api/products/?{query}")  # the route, Redis empty
    assert expected.status_code == 200
    await app.state.redis.flushdb()
    # Other pages in Redis must not answer for this one (one key per distinct page).
    await client.get("/api/products/")
    await client.get("/api/products/?limit=3&ordering=-price")
    _same(expected, await client.get(f"/api/products/?{query}"))
    route, _ = await _through_fast_path(app, "/api/products/", query=query)
    assert route.calls == []
    _same(expected, await client.get(f"/api/products/?{query}"))


async def test_unknown_parameters_make_no_cache_keys_and_no_links(
    app: FastAPI, client: httpx.AsyncClient, make_product: Any
) -> None:
    for i in range(3):
        await make_product(f"Lamp {i}")
    first = await client.get("/api/products/?limit=2&utm_source=x")
    assert "utm_source" not in first.json()["next"]
    for i in range(20):
        page = await client.get(f"/api/products/?limit=2&r{i}={i}&limit=2&junk=%00{i}")
        assert page.json() == first.json()
    # Equivalent spellings of the same parameters share the page too.
    await client.get("/api/products/?limit=02")
    assert len(await app.state.redis.keys("catalog:cache:products:list:*")) == 1
    route, _ = await _through_fast_path(app, "/api/products/", query="limit=2&whatever=1")
    assert route.calls == []


async def test_with_redis_down_reads_come_from_postgresql(
    settings: CatalogSettings, users_jwks_client: httpx.AsyncClient, make_product: Any
) -> None:
    product = await make_product("Dune")
    down = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    app = create_app(down, jwks_client=users_jwks_client)
    async with app.router.lifespan_context(app):
        route, _ = await _through_fast_path(app, f"/api/products/{product.id}/")
        assert route.calls == [f"/api/products/{product.id}/"]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            detail = await client.get(f"/api/products/{product.id}/")
            assert detail.status_code == 200
            assert detail.json()["name"] == "Dune"
            assert "etag" in detail.headers
            assert (await client.get("/api/products/")).json()["results"][0]["id"] == product.id
            assert (await client.get("/api/products/999/")).status_code == 404


async def test_hits_are_counted_like_the_routes_answers(
    client: httpx.AsyncClient, make_product: Any
) -> None:
    product = await make_product()
    for _ in range(3):  # one miss through the route, two hits through the fast path
        assert (await client.get(f"/api/products/{product.id}/")).status_code == 200
    metrics = (await client.get("/metrics")).text.splitlines()
    [count] = [
        line
        for line in metrics
        if line.startswith("http_requests_total{")
        and 'handler="/api/products/{product_id}/"' in line
        and 'status="200"' in line
    ]
    assert count.endswith(" 3.0")


async def test_list_hits_and_not_modified_hits_are_counted_under_the_list_route(
    client: httpx.AsyncClient, make_product: Any
) -> None:
    await make_product()
    first = await client.get("/api/products/")  # a miss through the route fills the cache
    hit = await client.get("/api/products")  # a hit through the fast path, without the slash
    assert hit.status_code == 200
    again = await client.get("/api/products/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    metrics = (await client.get("/metrics")).text.splitlines()
    prefix = "http_requests_total{"
    counted = {
        line[len(prefix) : line.rindex("}")]: line.rsplit(" ", 1)[1]
        for line in metrics
        if line.startswith(prefix)
    }
    assert counted['handler="/api/products/",method="GET",status="200"'] == "2.0"
    assert counted['handler="/api/products/",method="GET",status="304"'] == "1.0"
