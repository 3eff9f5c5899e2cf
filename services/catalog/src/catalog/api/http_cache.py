"""ETag / If-None-Match for JSON bodies that come out of the cache as text."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

MEDIA_TYPE = "application/json"


def etag_of(body: str) -> str:
    return '"' + hashlib.blake2b(body.encode(), digest_size=12).hexdigest() + '"'


def conditional_json(request: Request, body: str, *, max_age: int = 1) -> Response:
    """200 with the body and its ETag, or 304 when the client already has this version.

    `max_age` is what a shared cache (the gateway's micro-cache) may reuse it for.
    """
    etag = etag_of(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    candidates = [
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    ]
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=MEDIA_TYPE, headers=headers)
