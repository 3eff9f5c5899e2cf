"""`create_service_app()`: the same middleware, errors, health, metrics and auth for all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.middleware import Middleware

from shared.auth import JwksKeySource, Revocations, TokenVerifier, authenticate_before_body
from shared.db import (
    autocommit,
    create_engine,
    create_public_engine,
    create_sessionmaker,
    prefill_pool,
)
from shared.errors import (
    BAD_REQUEST_SLUG,
    PROBLEM_MEDIA_TYPE,
    Problem,
    install_error_handlers,
)
from shared.events.envelope import EventCatalog, export_json_schemas
from shared.health import router as health_router
from shared.logs import AccessLogMiddleware, configure_logging
from shared.metrics import install_metrics
from shared.middleware import (
    BodySizeLimitMiddleware,
    NoStoreMiddleware,
    ServedByMiddleware,
    TrailingSlashMiddleware,
)
from shared.redis_client import create_redis
from shared.runtime import tune_gc
from shared.settings import ServiceSettings

ServiceLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _operation_id(route: APIRoute) -> str:
    """Stable `{tag}-{name}` operation ids, so generated clients keep their method names."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def _request_id_is_safe(value: str) -> bool:
    # Accept nginx's hex ids and client UUIDs, refuse anything that could forge log lines.
    return 0 < len(value) <= 128 and all(c.isalnum() or c in "-_.:" for c in value)


def _problem_openapi(
    app: FastAPI, events: Sequence[EventCatalog] = ()
) -> Callable[[], dict[str, Any]]:
    """OpenAPI where validation errors are documented as problem+json, like every error."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        problem_ref = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if "requestBody" in operation or "400" in operation.get("responses", {}):
                    # One 400 problem type everywhere, checked after authentication.
                    operation.setdefault("responses", {})["400"] = {
                        "description": f"Malformed request, such as a body that is not JSON:"
                        f" always of type `/problems/{BAD_REQUEST_SLUG}`. Authentication is"
                        " checked first (401/403 before 400).",
                        "content": problem_ref,
                    }
                if "422" in operation.get("responses", {}):
                    operation["responses"]["422"] = {
                        "description": "Validation error",
                        "content": {
                            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    }
        if events:
            # The events this service publishes, for the gateway's merged document.
            schema["x-events"] = export_json_schemas(events)["events"]
        app.openapi_schema = schema
        return schema

    return openapi


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    token_verifier: Callable[[FastAPI], TokenVerifier] | None = None,
    lifespan: ServiceLifespan | None = None,
    jwks_client: httpx.AsyncClient | None = None,
    events: Sequence[EventCatalog] = (),
    inner_middleware: Sequence[Middleware] = (),
    no_store_prefixes: Sequence[str] = (),
    public_reads: bool = False,
) -> FastAPI:
    """A service app: engine, Redis and token verifier on `app.state`, owned by the lifespan.

    `token_verifier` builds the verifier once the app exists (the users service verifies
    with its own keys); by default keys come from the users service's JWKS, fetched with
    `jwks_client` when given (tests pass one bound to an in-process users app).
    `events` are the catalogs of events the service publishes; their JSON Schemas go into
    its OpenAPI document as `x-events`, which the gateway lists for integrators.
    `inner_middleware` runs inside every common layer (request id, access log, metrics),
    just before the routing: fast paths that answer some requests without it.
    Answers under `no_store_prefixes` (and to any request with credentials) are no-store.
    `public_reads` adds the small separate pool of `shared.db.public_read_session`.
    """

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            service=name,
            level=settings.log_level,
            json=settings.log_json,
            access_log=settings.access_log,
        )
        app.state.settings = settings
        app.state.engine = create_engine(
            settings, application_name=name, statement_timeout_ms=settings.db_statement_timeout_ms
        )
        app.state.sessionmaker = create_sessionmaker(app.state.engine)
        if settings.db_pool_prefill:
            await prefill_pool(app.state.engine, settings.db_pool_size)
        app.state.read_engine = autocommit(app.state.engine)
        app.state.read_sessionmaker = create_sessionmaker(app.state.read_engine)
        public_engine = None
        if public_reads:
            public_engine = create_public_engine(settings, application_name=name)
            app.state.public_engine = public_engine
            app.state.public_sessionmaker = create_sessionmaker(autocommit(public_engine))
        app.state.redis = create_redis(settings)
        app.state.revocations = Revocations(
            app.state.redis, cache_seconds=settings.auth_revocation_cache_seconds
        )
        jwks: JwksKeySource | None = None
        if token_verifier is not None:
            app.state.token_verifier = token_verifier(app)
        else:
            jwks = JwksKeySource(settings.jwks_url, client=jwks_client)
            app.state.token_verifier = TokenVerifier(
                jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience
            )
        try:
            if lifespan is not None:
                async with lifespan(app):
                    tune_gc(settings)
                    yield
            else:
                tune_gc(settings)
                yield
        finally:
            if jwks is not None:
                await jwks.aclose()
            await app.state.redis.aclose()
            await app.state.engine.dispose()
            if public_engine is not None:
                await public_engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        redirect_slashes=False,
    )
    for router in routers:
        app.include_router(router)
    app.include_router(health_router)
    install_error_handlers(app)
    for middleware in inner_middleware:
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.state.before_malformed_body = authenticate_before_body
    install_metrics(app)
    app.openapi = _problem_openapi(app, events)  # type: ignore[method-assign]

    # Added innermost first: the request id wraps everything, so every log line has it.
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(NoStoreMiddleware, prefixes=no_store_prefixes)
    if settings.replica_name:
        app.add_middleware(ServedByMiddleware, name=settings.replica_name)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware, quiet_paths=("/health", "/metrics"))
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=_request_id_is_safe,
        update_request_header=True,
    )
    return app
