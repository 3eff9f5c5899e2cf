"""Rendering errors as RFC 9457 `application/problem+json`: the `ServiceError` family of
`shared.errors`, validation errors, HTTP errors, and a database or Redis that failed;
and the OpenAPI entries that document those answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match

from shared.db import database_unavailable
from shared.errors import BAD_REQUEST_SLUG, Busy, ServiceError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid field: where it is, what is wrong, and a machine-readable code."""

    loc: list[str | int]
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of every service is shaped."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_response(
    request: Request,
    status: int,
    *,
    slug: str,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body = Problem(
        type=f"/problems/{slug}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=correlation_id.get(),
        **extensions,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return problem_response(
        request,
        exc.status,
        slug=exc.slug,
        detail=exc.detail,
        headers=exc.headers,
        **exc.extensions,
    )


def _field_errors(errors: Sequence[Any]) -> list[FieldError]:
    # The offending input is never echoed back: it may be a password or a card number.
    return [
        FieldError(loc=list(e.get("loc", ())), message=e.get("msg", ""), type=e.get("type", ""))
        for e in errors
    ]


BeforeMalformedBody = Callable[[Request], Awaitable[None]]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        check: BeforeMalformedBody | None = getattr(
            request.app.state, "before_malformed_body", None
        )
        if check is not None:
            try:
                await check(request)  # authentication goes before the body
            except ServiceError as failed:
                return await _service_error(request, failed)
        return problem_response(
            request, 400, slug=BAD_REQUEST_SLUG, detail="The request body is not valid JSON."
        )
    return problem_response(
        request,
        422,
        slug="validation-error",
        detail="The request is invalid; see `errors`.",
        errors=_field_errors(errors),
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return problem_response(request, exc.status_code, slug=slug, detail=detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's own 405 names only the
    first route that matched the path, and FastAPI makes one route per method."""
    methods: set[str] = set()
    for route in _flat(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    # HEAD rides along with GET; the document lists the methods a route declares.
    return sorted(methods - {"HEAD"})


def _flat(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    # FastAPI keeps an included router whole (its `original_router`) in the app's routes.
    out: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        out += _flat(inner.routes) if inner is not None else [route]
    return out


# Text PostgreSQL cannot store (a NUL character, an unencodable byte sequence) is the
# client's input, not our failure; the request's transaction is already rolled back.
_UNSTORABLE_TEXT = {"22021", "22P05"}
# statement_timeout cancelled the statement: the request was too expensive right now.
_QUERY_CANCELED = "57014"


# A client may try again soon; nginx tries a GET's other replicas first.
RETRY_AFTER_SECONDS = 1
# Raised raw by asyncpg (connection refused, command timeout) and redis-py. A pool
# timeout (every connection busy) is `_pool_timeout`'s.
_UNAVAILABLE_ERRORS = (OSError, TimeoutError, RedisConnectionError, RedisTimeoutError)


async def _unavailable(request: Request, exc: Exception) -> Response:
    """A dependency (PostgreSQL, Redis) is gone or too slow: a fast 503 the client can
    retry, not a 500. The request's transaction is rolled back, so nothing half-written."""
    log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
    return problem_response(
        request,
        503,
        slug="service-unavailable",
        detail="A service this request needs is unavailable; try again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    if database_unavailable(exc):
        return await _unavailable(request, exc)
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in _UNSTORABLE_TEXT:
        return problem_response(
            request,
            422,
            slug="validation-error",
            detail="The request contains text that cannot be stored (such as a NUL character).",
        )
    if sqlstate == _QUERY_CANCELED:
        return problem_response(
            request,
            503,
            slug="query-timeout",
            detail="The request took too long and was stopped; narrow it down or retry.",
            headers={"Retry-After": "1"},
        )
    return await _unhandled(request, exc)


async def _pool_timeout(request: Request, exc: Exception) -> Response:
    # Every connection of the pool is busy (the public pool fills first, by design).
    return await _service_error(request, Busy())


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(
        request, 500, slug="internal-error", detail="Something went wrong on our side."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    for unavailable in _UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unhandled)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json answers for a route."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
