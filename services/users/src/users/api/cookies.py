"""Cookie mode of the auth endpoints, for browsers: the refresh token in an HttpOnly cookie.

A browser opts in per request with `X-Token-Transport: cookie`. Login and refresh then
set the refresh token as an `HttpOnly; SameSite=Strict; Path=/api/auth/` cookie (Secure
outside local and test) that no script can read, and answer only the access token. The
JSON-body flow stays as it is for partners.

CSRF: SameSite=Strict already keeps other sites' requests from carrying the cookie; on
top of that (a sibling subdomain is "same site"), every cookie-carrying request must echo
a token in `X-CSRF-Token` that equals the readable `shop_csrf` cookie and is derived from
the refresh token itself (signed double submit: a planted cookie pair from another login
does not match, and the pair rotates with every refresh).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from shared.errors import Forbidden, Unauthorized
from users.api.deps import Auth

TRANSPORT_HEADER = "X-Token-Transport"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_COOKIE = "shop_refresh"
CSRF_COOKIE = "shop_csrf"
REFRESH_PATH = "/api/auth/"


def csrf_token(refresh_token: str) -> str:
    digest = hashlib.sha256(b"shop-csrf\0" + refresh_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def wants_cookie(request: Request) -> bool:
    return request.headers.get(TRANSPORT_HEADER, "").strip().lower() == "cookie"


def cookie_refresh_token(request: Request) -> str:
    """The refresh token of a cookie-mode request, once its CSRF token checks out."""
    token = request.cookies.get(REFRESH_COOKIE, "")
    if not token or len(token) > 256:
        raise Unauthorized("No refresh cookie; log in again.")
    presented = request.headers.get(CSRF_HEADER, "")
    if not presented or not hmac.compare_digest(presented.encode(), csrf_token(token).encode()):
        raise Forbidden(f"The {CSRF_HEADER} header is missing or does not match.")
    return token


class CookieJar:
    """Sets and clears the two cookies with the service's Secure policy."""

    def __init__(self, *, secure: bool, max_age: int) -> None:
        self.secure = secure
        self.max_age = max_age

    def set(self, response: Response, refresh_token: str) -> None:
        response.set_cookie(
            REFRESH_COOKIE,
            refresh_token,
            max_age=self.max_age,
            path=REFRESH_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
        # Readable by the page (Path=/) so that it can echo it; useless without the
        # HttpOnly refresh cookie it is derived from.
        response.set_cookie(
            CSRF_COOKIE,
            csrf_token(refresh_token),
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=False,
            samesite="strict",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            REFRESH_COOKIE, path=REFRESH_PATH, secure=self.secure, httponly=True, samesite="strict"
        )
        response.delete_cookie(CSRF_COOKIE, path="/", secure=self.secure, samesite="strict")


async def _jar(auth: Auth) -> CookieJar:
    settings = auth.settings
    secure = settings.refresh_cookie_secure
    if secure is None:
        secure = settings.environment == "production"
    return CookieJar(secure=secure, max_age=settings.refresh_token_ttl_seconds)


Cookies = Annotated[CookieJar, Depends(_jar)]
