"""`/api/auth/`: register, login, refresh, logout."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from shared.db import DbSession
from shared.errors import problem_responses
from users.api.deps import Auth, ClientAddress
from users.api.schemas import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPairResponse,
    UserOut,
)
from users.domain import accounts

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _pair(pair: accounts.TokenPair) -> TokenPairResponse:
    return TokenPairResponse(access=pair.access, refresh=pair.refresh, expires_in=pair.expires_in)


@router.post(
    "/register/",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409, 413, 422),
)
async def register(body: RegisterRequest, session: DbSession, auth: Auth) -> UserOut:
    """Create a customer account."""
    user = await accounts.register(
        session,
        auth.hasher,
        email=body.email,
        username=body.username,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
    )
    return UserOut.model_validate(user)


@router.post("/login/", responses=problem_responses(400, 401, 422, 429))
async def login(
    body: LoginRequest, session: DbSession, auth: Auth, address: ClientAddress
) -> TokenPairResponse:
    """Exchange email and password for an access token and a refresh token."""
    pair = await accounts.login(
        session, auth, email=body.email, password=body.password, address=address
    )
    return _pair(pair)


@router.post("/refresh/", responses=problem_responses(400, 401, 422))
async def refresh(body: RefreshRequest, session: DbSession, auth: Auth) -> TokenPairResponse:
    """Exchange a refresh token for a new pair. Each refresh token works once; using one
    twice revokes every token of that login."""
    return _pair(await accounts.refresh(session, auth, token=body.refresh))


@router.post(
    "/logout/", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(400, 422)
)
async def logout(body: RefreshRequest, session: DbSession) -> Response:
    """Revoke the refresh token and every token of its login."""
    await accounts.logout(session, token=body.refresh)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
