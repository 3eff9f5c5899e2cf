"""Cache hits of product pages and list pages, answered before FastAPI's routing.

Routing, dependency solving and building request and response objects cost a replica
most of a cached read (docs/catalog.md). This pure ASGI layer sits inside every other
middleware (request id, access log, metrics, replica header all still apply) and answers
only what it is sure of: a GET whose parameters it validates exactly as the route would
(`catalog.api.list_query`) and whose page is in Redis, read in one round trip with its
stored ETag. The headers, the ETag and the 304 come from `catalog.api.http_cache`, as the
route's do. Everything else goes to the route unchanged: misses (which fill the cache),
anything it cannot validate (the route answers 422), unknown products (404), and every
request for a second after a Redis error (the route degrades to PostgreSQL).
"""

from __future__ import annotations

import functools
import logging
import re
import time

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.api import list_query
from catalog.api.http_cache import MEDIA_TYPE, cache_headers, not_modified
from catalog.db.cache import Entry, ProductCache
from shared.api.ids import MAX_ID
from shared.metrics import ROUTE_TEMPLATE

log = logging.getLogger(__name__)

LIST_PATH = "/api/products/"
DETAIL_TEMPLATE = "/api/products/{product_id}/"  # the route's, for the metrics' label
DETAIL_PATH = re.compile(r"/api/products/([0-9]{1,19})/")
# After a Redis error, requests go straight to the route for this long: it reads
# PostgreSQL, and a Redis that is down is not asked twice per request.
BYPASS_SECONDS = 1.0


class CachedReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._bypass_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path != LIST_PATH and not path.startswith(LIST_PATH):
            await self.app(scope, receive, send)
            return
        entry = None
        if time.monotonic() >= self._bypass_until:
            try:
                entry = await self._cached(scope, path)
            except RedisError:
                log.warning("product cache unavailable; reads go to the routes", exc_info=True)
                self._bypass_until = time.monotonic() + BYPASS_SECONDS
        if entry is None:
            await self.app(scope, receive, send)
            return
        scope[ROUTE_TEMPLATE] = LIST_PATH if path == LIST_PATH else DETAIL_TEMPLATE
        await _answer(scope, send, entry)

    async def _cached(self, scope: Scope, path: str) -> Entry | None:
        cache: ProductCache = scope["app"].state.product_cache
        if path == LIST_PATH:
            key = _list_key(scope["query_string"])
            return None if key is None else await cache.peek_list(key)
        match = DETAIL_PATH.fullmatch(path)
        if match is None or not 1 <= int(match.group(1)) <= MAX_ID:
            return None
        return await cache.peek_product(int(match.group(1)))


@functools.lru_cache(maxsize=1024)
def _list_key(query_string: bytes) -> str | None:
    """The cache key of a list page's raw query string, None where only the route can
    tell. Remembered: the popular pages' query strings come again and again, and each
    parse cost a filtered list's hit about a twentieth of its CPU; a query string sent
    once only takes a place that the least used one gives up."""
    parsed = list_query.parse(query_string.decode("latin-1"))
    return None if parsed is None else list_query.cache_key(*parsed)


async def _answer(scope: Scope, send: Send, entry: Entry) -> None:
    """The route's response (`http_cache.conditional_json`), written directly."""
    fresh = cache_headers(entry.etag, scope["app"].state.settings)
    headers = [(k.lower().encode(), v.encode()) for k, v in fresh.items()]
    if_none_match = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if_none_match = value.decode("latin-1")
            break
    if not_modified(entry.etag, if_none_match):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = entry.body.encode()
    headers += [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", MEDIA_TYPE.encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
