"""`create_service_app()`: the same middleware, errors, health, metrics and auth for all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.middleware import Middleware

from shared.api.ids import MAX_ID
from shared.api.problems import PROBLEM_MEDIA_TYPE, Problem, install_error_handlers
from shared.auth import JwksKeySource, Revocations, TokenVerifier, authenticate_before_body
from shared.db import (
    autocommit,
    create_engine,
    create_public_engine,
    create_sessionmaker,
    prefill_pool,
)
from shared.errors import BAD_REQUEST_SLUG
from shared.events.envelope import EventCatalog, export_json_schemas
from shared.health import router as health_router
from shared.logs import configure_logging
from shared.middleware import (
    NoStoreMiddleware,
    StaticPathMethodsMiddleware,
    install_outer_middleware,
)
from shared.redis_client import create_redis
from shared.runtime import tune_gc
from shared.settings import ServiceSettings

ServiceLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _operation_id(route: APIRoute) -> str:
    """Stable `{tag}-{name}` operation ids, so generated clients keep their method names."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


_BOUNDS = ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum")


def _exact_int64_bounds(node: Any) -> None:
    """FastAPI's OpenAPI model keeps bounds as floats, and the bigint bound 2**63 - 1 of
    every id becomes 2.0**63: one more than the models accept. Put the exact one back."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and abs(value) == 2.0**63:
                node[key] = MAX_ID if value > 0 else -MAX_ID - 1
            else:
                _exact_int64_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_int64_bounds(item)


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
        _exact_int64_bounds(schema)
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
            settings,
            application_name=name,
            statement_timeout_ms=round(settings.db_statement_timeout_seconds * 1000),
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
        # Caches on a server of their own when one is configured (it may evict).
        cache_redis = create_redis(settings, cache=True) if settings.cache_redis_url else None
        app.state.cache_redis = cache_redis or app.state.redis
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
            if cache_redis is not None:
                await cache_redis.aclose()
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
    app.openapi = _problem_openapi(app, events)  # type: ignore[method-assign]

    # Added innermost first: the request id wraps everything, so every log line has it.
    app.add_middleware(StaticPathMethodsMiddleware)
    app.add_middleware(NoStoreMiddleware, prefixes=no_store_prefixes)
    install_outer_middleware(
        app,
        replica_name=settings.replica_name,
        max_body_bytes=settings.max_body_bytes,
        trailing_slash_prefix="/api/",
    )
    return app
