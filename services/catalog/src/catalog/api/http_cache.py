"""ETag / If-None-Match for cached JSON pages, shared by the routes and the fast path."""

from __future__ import annotations

from fastapi import Request, Response

from catalog.db.cache import Entry

MEDIA_TYPE = "application/json"


def not_modified(etag: str, if_none_match: str | None) -> bool:
    """Whether the client already has this version (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in candidates or "*" in candidates


def cache_headers(etag: str, *, max_age: int = 1) -> dict[str, str]:
    """What every cached page carries, 200 or 304.

    `max_age` is what a shared cache (the gateway's micro-cache) may reuse it for.
    """
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }


def conditional_json(request: Request, entry: Entry, *, max_age: int = 1) -> Response:
    """200 with the body and its ETag, or 304 when the client already has this version."""
    headers = cache_headers(entry.etag, max_age=max_age)
    if not_modified(entry.etag, request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(content=entry.body, media_type=MEDIA_TYPE, headers=headers)
