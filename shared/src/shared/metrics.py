"""Prometheus `/metrics` through prometheus-fastapi-instrumentator."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

# Requests here take milliseconds: buckets fine enough for a p99 in that range.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def install_metrics(app: FastAPI) -> None:
    """HTTP metrics in a registry of the app's own, which also exposes the process-wide
    one (runtime, event backbone). One registry per app keeps the HTTP metrics right when
    one process builds several apps, as the tests do."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(REGISTRY)
    instrumentator = Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics", "/health/.*"],
        registry=registry,
    )
    # The two series the dashboards read, instead of the default five (which add size
    # summaries and a second histogram to every request, and whose latency histogram has
    # only 0.1/0.5/1 s buckets).
    instrumentator.add(
        metrics.requests(registry=registry),
        metrics.latency(buckets=LATENCY_BUCKETS, should_include_status=False, registry=registry),
    )
    instrumentator.instrument(app).expose(app, endpoint="/metrics", include_in_schema=False)
