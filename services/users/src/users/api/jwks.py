"""`/.well-known/jwks.json`: the public keys that verify access tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
async def jwks(request: Request, response: Response) -> dict[str, list[dict[str, Any]]]:
    """Every key a currently valid access token may be signed with (RFC 7517)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return {"keys": list(request.app.state.auth.keys.public_jwks.values())}
