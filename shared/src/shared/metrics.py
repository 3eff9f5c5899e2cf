"""Prometheus `/metrics` through prometheus-fastapi-instrumentator."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator


def install_metrics(app: FastAPI) -> None:
    """HTTP metrics in a registry of the app's own, which also exposes the process-wide
    one (runtime, event backbone). One registry per app keeps the HTTP metrics right when
    one process builds several apps, as the tests do."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(REGISTRY)
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics", "/health/.*"],
        registry=registry,
    ).instrument(app).expose(app, endpoint="/metrics", include_in_schema=False)
