"""The gateway app: one merged OpenAPI document, local interactive docs, shop-wide health.

It sits behind nginx like every service (routes in deploy/services.toml) and talks to the
services' replicas directly, never through nginx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from gateway.docs import ASSETS_URL, Assets
from gateway.docs import router as docs_router
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstreams
from shared.api.problems import install_error_handlers
from shared.logs import configure_logging
from shared.middleware import install_outer_middleware

DESCRIPTION = """The public API of Highload Shop, as served by its gateway: every service's
paths in one document. Errors are RFC 9457 `application/problem+json`. Authenticate with
`Authorization: Bearer <access>` from `POST /api/auth/login/`."""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            service="gateway",
            level=settings.log_level,
            json=settings.log_json,
            access_log=settings.access_log,
        )
        async with httpx.AsyncClient(timeout=settings.upstream_timeout_seconds) as client:
            app.state.upstreams = Upstreams(
                services=settings.services,
                client=client,
                refresh_seconds=settings.openapi_refresh_seconds,
                description=DESCRIPTION,
                summary_seconds=settings.health_cache_seconds,
            )
            yield

    app = FastAPI(
        title="Highload Shop gateway",
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        merged = await request.app.state.upstreams.merged()
        headers = {"ETag": merged.etag, "Cache-Control": "no-cache"}
        # Weak comparison (RFC 9110): nginx's gzip turns our ETag into W/"...".
        presented = request.headers.get("if-none-match", "").split(",")
        if merged.etag in {tag.strip().removeprefix("W/") for tag in presented}:
            return Response(status_code=304, headers=headers)
        return JSONResponse(merged.document, headers=headers)

    @app.get("/health", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        # Public (nginx routes it): a cached summary that names no replica.
        ok, body = await request.app.state.upstreams.summary()
        return JSONResponse(
            body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"}
        )

    @app.get("/health/replicas", include_in_schema=False)
    async def replica_health(request: Request) -> JSONResponse:
        # Every replica's address and checks, on the gateway's own port only: nginx
        # answers 404 for /health/... (routes.conf).
        ok, body = await request.app.state.upstreams.health()
        return JSONResponse(
            body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"}
        )

    @app.get("/health/live", include_in_schema=False)
    @app.get("/health/ready", include_in_schema=False)
    async def own_health() -> dict[str, str]:
        # The gateway has no database or Redis of its own: running is ready.
        return {"status": "ok"}

    app.include_router(docs_router)
    app.mount(ASSETS_URL, Assets(), name="docs-assets")
    install_error_handlers(app)
    install_outer_middleware(
        app,
        replica_name=settings.replica_name,
        max_body_bytes=settings.max_body_bytes,
        quiet_paths=("/health", "/metrics", ASSETS_URL),
    )
    return app
