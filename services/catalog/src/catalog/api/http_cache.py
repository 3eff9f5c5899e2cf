"""ETag / If-None-Match for cached JSON pages, shared by the routes and the fast path."""

from __future__ import annotations

import random

from fastapi import Request, Response

from catalog.db.cache import Entry
from catalog.settings import CatalogSettings

MEDIA_TYPE = "application/json"
# A browser revalidates after a second (a cheap 304 with the ETag); shared caches get
# `s-maxage` from the settings.
BROWSER_MAX_AGE_SECONDS = 1


def not_modified(etag: str, if_none_match: str | None) -> bool:
    """Whether the client already has this version (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return etag in candidates or "*" in candidates


def cache_headers(etag: str, settings: CatalogSettings) -> dict[str, str]:
    """What every cached page carries, 200 or 304.

    Each answer draws how long a shared cache may reuse it: nginx keeps time in whole
    seconds, so one fixed validity makes every page cached in a second expire together,
    and their refreshes queue at a replica as one burst (docs/catalog.md).
    """
    low, high = settings.shared_cache_min_seconds, settings.shared_cache_max_seconds
    shared = random.randint(low, high)  # noqa: S311 (spreading expiries, not a secret)
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={BROWSER_MAX_AGE_SECONDS}, s-maxage={shared}",
        "Vary": "Accept-Encoding",
    }


def conditional_json(request: Request, entry: Entry) -> Response:
    """200 with the body and its ETag, or 304 when the client already has this version."""
    headers = cache_headers(entry.etag, request.app.state.settings)
    if not_modified(entry.etag, request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(content=entry.body, media_type=MEDIA_TYPE, headers=headers)
