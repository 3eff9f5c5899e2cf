"""Pure ASGI middleware every service runs behind."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from http import HTTPStatus

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.api.problems import PROBLEM_MEDIA_TYPE, problem_response
from shared.logs import AccessLogMiddleware
from shared.metrics import install_metrics


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413 problem+json.

    nginx enforces the same limit at the edge; this keeps a service safe when it is
    reached directly. A declared `Content-Length` is checked up front; a chunked body is
    read (up to the limit) before the app sees it, because FastAPI turns any error while
    reading a body into a 400.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._reject(scope, send)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._reject(scope, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": "/problems/payload-too-large",
                "title": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.phrase,
                "status": 413,
                "detail": f"The request body is larger than {self.max_bytes} bytes.",
                "instance": scope["path"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


RECEIVED_AT = "shop.received_at"
# The gateway notes when it passed the request on (nginx's `$msec`, seconds since the
# epoch): the time a request then waits before this app sees it counts too.
REQUEST_START_HEADER = b"x-request-start"
# A request claims at most this age: the header is not authenticated, and a replica
# reached directly could be sent any value (which only shortens its sender's own budget).
MAX_EDGE_AGE_SECONDS = 60.0


class ReceivedAtMiddleware:
    """Note in the scope when the request reached the shop, on the event loop's clock:
    when the gateway passed it on (`X-Request-Start: t=<seconds>`), else now, in the
    outermost layer. A budget for the whole request (`received_at`) then counts the time
    it waited before its endpoint ran, as nginx's read timeout does: in a flash sale a
    replica's loop took up to 11 s to start the requests nginx had sent it, so a budget
    counted from the app's arrival still ended after nginx's 30 s (docs/checkout.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        now = asyncio.get_running_loop().time()
        scope[RECEIVED_AT] = now - _edge_age(scope)
        await self.app(scope, receive, send)


def _edge_age(scope: Scope) -> float:
    """How long ago the gateway passed this request on (0 without a usable header)."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_START_HEADER:
            try:
                started = float(value.removeprefix(b"t="))
            except ValueError:
                return 0.0
            age = time.time() - started
            return min(age, MAX_EDGE_AGE_SECONDS) if age > 0 else 0.0
    return 0.0


def received_at(scope: Scope) -> float:
    """When the request reached the shop, on the loop's clock (now, outside a service app)."""
    at = scope.get(RECEIVED_AT)
    return float(at) if at is not None else asyncio.get_running_loop().time()


class ServedByMiddleware:
    """Name the replica that answered in `X-Served-By` (set per process by `make run`)."""

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self.app = app
        self.header = (b"x-served-by", name.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)


class TrailingSlashMiddleware:
    """Serve `/api/x` as `/api/x/` directly: the public paths work with and without the
    slash, and a redirect would cost a round trip (and lose the body of a POST in some
    clients)."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(self.prefix) and not path.endswith("/"):
            scope = {**scope, "path": path + "/", "raw_path": None}
        await self.app(scope, receive, send)


class StaticPathMethodsMiddleware:
    """A path without parameters owns its methods: `PATCH /api/categories/tree/` is a 405
    naming GET, not `PATCH /api/categories/{category_id}/` refusing "tree" with a 422.

    The router takes the first route matching path and method, so a method a static path
    lacks would fall through to a parameterised route beside it. The methods of every
    static path are read from the app's routes on the first request; HEAD goes on to the
    router wherever GET is served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._methods: dict[str, frozenset[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._methods is None:
            self._methods = _static_path_methods(scope["app"].router.routes)
        allowed = self._methods.get(scope["path"])
        method = scope["method"]
        if allowed is None or method in allowed or (method == "HEAD" and "GET" in allowed):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            Request(scope),
            405,
            slug="method-not-allowed",
            headers={"Allow": ", ".join(sorted(allowed - {"HEAD"}))},
        )
        await response(scope, receive, send)


def _static_path_methods(routes: Sequence[BaseRoute]) -> dict[str, frozenset[str]]:
    methods: dict[str, set[str]] = {}
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI keeps included routers
        if inner is not None:
            for inner_path, found in _static_path_methods(inner.routes).items():
                methods.setdefault(inner_path, set()).update(found)
            continue
        route_path, served = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(route_path, str) and served and not getattr(route, "param_convertors", None):
            methods.setdefault(route_path, set()).update(served)
    return {path: frozenset(found) for path, found in methods.items()}


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer to a request with credentials, and on
    every answer under `prefixes` (token endpoints, RFC 6749 5.1): what is private to one
    user is never kept by a browser or a shared cache, whatever the route set."""

    NO_STORE = (b"cache-control", b"no-store")

    def __init__(self, app: ASGIApp, *, prefixes: Sequence[str] = ()) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._private(scope):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
                message["headers"] = [*kept, self.NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)

    def _private(self, scope: Scope) -> bool:
        if self.prefixes and str(scope.get("path", "")).startswith(self.prefixes):
            return True
        return any(name in (b"authorization", b"cookie") for name, _ in scope["headers"])


def request_id_is_safe(value: str) -> bool:
    # Accept nginx's hex ids and client UUIDs, refuse anything that could forge log lines.
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "-_.:" for c in value)


def install_outer_middleware(
    app: FastAPI,
    *,
    replica_name: str | None,
    max_body_bytes: int,
    quiet_paths: Sequence[str] = ("/health", "/metrics"),
    trailing_slash_prefix: str | None = None,
) -> None:
    """The outermost layers of every app, the services' and the gateway's, added last
    (from the inside out): X-Served-By, the body size limit, the HTTP metrics (around
    every layer that answers, so a 405 or a 413 is counted too), the trailing slash
    under `trailing_slash_prefix` (so the metrics label such a path with its route),
    the access log (not for `quiet_paths`; the path as the client sent it), the request
    id around them, so every log line carries it, and the time of arrival outside
    everything."""
    if replica_name:
        app.add_middleware(ServedByMiddleware, name=replica_name)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    install_metrics(app)
    if trailing_slash_prefix is not None:
        app.add_middleware(TrailingSlashMiddleware, prefix=trailing_slash_prefix)
    app.add_middleware(AccessLogMiddleware, quiet_paths=tuple(quiet_paths))
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=request_id_is_safe,
        update_request_header=True,
    )
    app.add_middleware(ReceivedAtMiddleware)
