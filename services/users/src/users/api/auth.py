"""`/api/auth/`: register, login, refresh, logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response, status

from shared.api.problems import problem_responses
from shared.auth import PresentedToken
from shared.db import DbSession
from shared.errors import Unprocessable
from users.api.cookies import Cookies, cookie_refresh_token, wants_cookie
from users.api.deps import Auth, ClientAddress, TokenRevocations
from users.api.schemas import (
    AccessTokenResponse,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPairResponse,
    UserOut,
)
from users.domain import accounts

router = APIRouter(prefix="/api/auth", tags=["auth"])


# `X-Token-Transport: cookie` opts a browser into the cookie mode (users.api.cookies).
Transport = Annotated[
    Literal["cookie"] | None,
    Header(
        alias="X-Token-Transport",
        description="`cookie`: the refresh token travels in an HttpOnly cookie, not the body.",
    ),
]
CsrfToken = Annotated[
    str | None,
    Header(
        alias="X-CSRF-Token",
        description="Cookie mode: the value of the `shop_csrf` cookie.",
        max_length=256,
    ),
]


def _answer(
    pair: accounts.TokenPair, request: Request, response: Response, cookies: Cookies
) -> TokenPairResponse | AccessTokenResponse:
    if wants_cookie(request):
        cookies.set(response, pair.refresh)
        return AccessTokenResponse(access=pair.access, expires_in=pair.expires_in)
    return TokenPairResponse(access=pair.access, refresh=pair.refresh, expires_in=pair.expires_in)


def _body_token(body: RefreshRequest | None) -> str:
    if body is None:
        raise Unprocessable(
            "Send the refresh token as `refresh`, or use the cookie mode.",
            loc=["body", "refresh"],
            code="missing",
        )
    return body.refresh


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
    body: LoginRequest,
    session: DbSession,
    auth: Auth,
    address: ClientAddress,
    request: Request,
    response: Response,
    cookies: Cookies,
    transport: Transport = None,
) -> TokenPairResponse | AccessTokenResponse:
    """Exchange email and password for an access token and a refresh token (in the
    body, or with `X-Token-Transport: cookie` in an HttpOnly cookie)."""
    pair = await accounts.login(
        session, auth, email=body.email, password=body.password, address=address
    )
    return _answer(pair, request, response, cookies)


@router.post("/refresh/", responses=problem_responses(400, 401, 403, 422))
async def refresh(
    session: DbSession,
    auth: Auth,
    request: Request,
    response: Response,
    cookies: Cookies,
    body: RefreshRequest | None = None,
    transport: Transport = None,
    csrf: CsrfToken = None,
) -> TokenPairResponse | AccessTokenResponse:
    """Exchange a refresh token for a new pair. Each refresh token works once; using one
    twice revokes every token of that login. Cookie mode: the token comes from the cookie
    (with `X-CSRF-Token`), and a token rotated within the last few seconds still works
    once more, so that two tabs refreshing at once are not taken for a thief."""
    if wants_cookie(request):
        grace = timedelta(seconds=auth.settings.refresh_reuse_grace_seconds)
        pair = await accounts.refresh(
            session, auth, token=cookie_refresh_token(request), reuse_grace=grace
        )
    else:
        pair = await accounts.refresh(session, auth, token=_body_token(body))
    return _answer(pair, request, response, cookies)


@router.post(
    "/logout/",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 401, 403, 422),
)
async def logout(
    session: DbSession,
    request: Request,
    cookies: Cookies,
    presented: PresentedToken,
    revocations: TokenRevocations,
    body: RefreshRequest | None = None,
    transport: Transport = None,
    csrf: CsrfToken = None,
) -> Response:
    """Revoke the refresh token and every token of its login (cookie mode: and clear
    the cookies). The access token sent in `Authorization`, if any, stops working in
    every service within a second (it is refused until it would have expired)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if presented is not None:
        await revocations.revoke_token(presented)
    if wants_cookie(request):
        await accounts.logout(session, token=cookie_refresh_token(request))
        cookies.clear(response)
    else:
        await accounts.logout(session, token=_body_token(body))
    return response
