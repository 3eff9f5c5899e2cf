"""The `ServiceError` family: the errors a service raises on purpose, with the HTTP status
and problem type each is answered with. Plain exceptions, so domain code raises them
without importing a web framework; `shared.api.problems` renders them as RFC 9457
`application/problem+json`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any


class ServiceError(Exception):
    """Base of every error a service answers on purpose; subclasses set status and slug."""

    status: int = 500
    slug: str = "internal-error"
    # Commit the request's transaction instead of rolling it back (see shared.db).
    keep_changes: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or HTTPStatus(self.status).phrase)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


# The one problem type of every 400 (malformed JSON among them), documented in OpenAPI.
BAD_REQUEST_SLUG = "bad-request"


class BadRequest(ServiceError):
    status, slug = 400, BAD_REQUEST_SLUG


class Unauthorized(ServiceError):
    status, slug = 401, "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(ServiceError):
    status, slug = 403, "forbidden"


class NotFound(ServiceError):
    status, slug = 404, "not-found"


class Conflict(ServiceError):
    status, slug = 409, "conflict"


class PayloadTooLarge(ServiceError):
    status, slug = 413, "payload-too-large"


class Unprocessable(ServiceError):
    """Well-formed input that breaks a rule; `errors` names the offending fields."""

    status, slug = 422, "validation-error"

    def __init__(self, detail: str, *, loc: Sequence[str | int] = (), code: str = "invalid"):
        # Shaped as `shared.api.problems.FieldError`.
        errors = [{"loc": list(loc), "message": detail, "type": code}] if loc else None
        super().__init__(detail, errors=errors)


class Busy(ServiceError):
    """Too many requests like this one are running (every pooled connection is taken)."""

    status, slug = 503, "busy"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "Too many such requests are running; retry in a moment.",
            headers={"Retry-After": "1"},
        )


class TooManyRequests(ServiceError):
    status, slug = 429, "too-many-requests"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
