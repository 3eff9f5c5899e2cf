"""The `Idempotency-Key` request header, declared once for every service's OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header

from shared.idempotency import HEADER

DESCRIPTION = (
    "A key of your choosing that makes the request safe to retry. The same key with the "
    "same request answers with the first response and does nothing more; with another "
    "request it is 422, and while the first request is still running, 409. Keys are "
    "yours alone and kept for 24 hours."
)


def _header() -> Any:
    return Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=DESCRIPTION,
    )


# Writes that must be retried safely require a key (payments); others take one.
IdempotencyKey = Annotated[str, _header()]
OptionalIdempotencyKey = Annotated[str | None, _header()]
