"""Dependencies of the users routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.auth import Revocations
from users.domain.accounts import AuthContext


async def _auth_context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


Auth = Annotated[AuthContext, Depends(_auth_context)]


async def _client_address(request: Request) -> str:
    # uvicorn runs with --proxy-headers behind nginx, so this is the real client.
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(_client_address)]


async def _revocations(request: Request) -> Revocations:
    revocations: Revocations = request.app.state.revocations
    return revocations


TokenRevocations = Annotated[Revocations, Depends(_revocations)]
