"""Prometheus `/metrics`: two HTTP series recorded by a pure ASGI middleware, exposed
through prometheus-fastapi-instrumentator."""

from __future__ import annotations

import re
from collections.abc import Sequence
from timeit import default_timer

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator, routing
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Requests here take milliseconds: buckets fine enough for a p99 in that range.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
EXCLUDED_HANDLERS = ("/metrics", "/health/.*")
# A fast path that answers before the routing (the catalog's cached reads) puts the
# template of the route it answered for here: its requests are labelled as the route's
# without matching every route for them.
ROUTE_TEMPLATE = "shop.route_template"


class HttpMetricsMiddleware:
    """`http_requests_total{handler, method, status}` and
    `http_request_duration_seconds{handler, method}`, exactly as the instrumentator's
    `requests` and `latency` metrics name and label them (the handler is its route
    template, found by its own `get_route_name`; an untemplated path is "none").

    Its own middleware built a Request, a Response, its headers and an info object and ran
    an `asyncio.gather` for every request: about a fifth of a cached read's CPU. This one
    only times the call and reads the status; label children are looked up once. The
    route is the one the router chose, or for a request whose answer named it
    (`ROUTE_TEMPLATE`) that one: matching every route again cost a tenth of a cached
    read's CPU, and 15-35 us of any other request's.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: Counter,
        latency: Histogram,
        excluded: Sequence[str] = EXCLUDED_HANDLERS,
    ) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self.excluded = [re.compile(pattern) for pattern in excluded]
        self._counters: dict[tuple[str, str, str], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = default_timer()
        asked = dict(scope)  # the routing adds the mount's root path, which matching reads
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            duration = default_timer() - started
            name = scope.get(ROUTE_TEMPLATE) or _route_template(asked, scope.get("route"))
            if not any(pattern.search(name or asked["path"]) for pattern in self.excluded):
                self._observe(name or "none", asked["method"], str(status), duration)

    def _observe(self, handler: str, method: str, status: str, duration: float) -> None:
        counter = self._counters.get((handler, method, status))
        if counter is None:
            counter = self._counters[handler, method, status] = self.requests.labels(
                handler, method, status
            )
        histogram = self._histograms.get((handler, method))
        if histogram is None:
            histogram = self._histograms[handler, method] = self.latency.labels(handler, method)
        counter.inc()
        histogram.observe(max(duration, 0.0))


def _route_template(asked: Scope, chosen: object) -> str | None:
    """The template of the route the router chose (Starlette notes it as `route`) when
    that route's own pattern is the whole path's; else every route is matched, as the
    instrumentator does (a mount, a root path, a request no route took)."""
    if (
        isinstance(chosen, APIRoute)
        and not asked.get("root_path")
        and chosen.path_regex.match(asked["path"])
    ):
        return chosen.path
    return routing.get_route_name(Request(asked), should_include_root_path=False)


def install_metrics(app: FastAPI) -> None:
    """HTTP metrics in a registry of the app's own, which also exposes the process-wide
    one (runtime, event backbone). One registry per app keeps the HTTP metrics right when
    one process builds several apps, as the tests do."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(REGISTRY)
    # The two series the dashboards read, instead of the instrumentator's default five
    # (which add size summaries and a second histogram to every request, and whose
    # latency histogram has only 0.1/0.5/1 s buckets).
    requests = Counter(
        "http_requests_total",
        "Total number of requests by method, status and handler.",
        labelnames=("handler", "method", "status"),
        registry=registry,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "Duration of HTTP requests in seconds",
        labelnames=("handler", "method"),
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    app.add_middleware(HttpMetricsMiddleware, requests=requests, latency=latency)
    Instrumentator(registry=registry).expose(app, endpoint="/metrics", include_in_schema=False)
