"""Prometheus `/metrics` through prometheus-fastapi-instrumentator."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator


def install_metrics(app: FastAPI) -> None:
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics", "/health/.*"],
    ).instrument(app).expose(app, endpoint="/metrics", include_in_schema=False)
