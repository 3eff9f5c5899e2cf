"""Access-token verification (RS256, keys from the users service's JWKS) and the
`CurrentUser` / `StaffUser` dependencies."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import JWTError, jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
# RFC 9068's type of JWT access tokens; any other JWT signed with our keys is refused.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the access token says."""

    id: int
    is_staff: bool
    # The token's `iat` (seconds, with a fraction): revocations refuse tokens issued before.
    issued_at: float = 0.0
    # The token's `jti` and `exp`: logout revokes this one token until it would expire.
    token_id: str = ""
    expires_at: float = 0.0


class KeySource(Protocol):
    async def get(self, kid: str) -> Mapping[str, Any] | None:
        """The public JWK with this key id, or None if it is unknown."""
        ...


class StaticKeySource:
    """Keys known in-process (the users service verifies with its own keys)."""

    def __init__(self, keys: Mapping[str, Mapping[str, Any]]) -> None:
        self._keys = dict(keys)

    async def get(self, kid: str) -> Mapping[str, Any] | None:
        return self._keys.get(kid)


class JwksKeySource:
    """Public keys fetched from a JWKS URL, cached, refetched when an unknown `kid` shows up.

    Refetches are serialized and spaced by `min_refetch_seconds`, so a flood of tokens
    with made-up key ids cannot turn into a flood of requests to the users service.
    """

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        ttl_seconds: float = 300.0,
        min_refetch_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=3.0)
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._keys: dict[str, Mapping[str, Any]] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> Mapping[str, Any] | None:
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self._ttl:
            return self._keys[kid]
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = kid not in self._keys or age >= self._ttl
            if stale and age >= self._min_refetch:
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            keys = response.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError):
            return  # keep the keys we had; the next unknown kid retries after the pause
        self._keys = {k["kid"]: k for k in keys if k.get("kid") and k.get("kty") == "RSA"}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class TokenVerifier:
    """Verifies access tokens, and remembers the ones it verified until they expire.

    An RS256 verification costs CPU (about 40 us for the signature, as much again when
    python-jose rebuilds the key from its JWK, so each key is built once, `_key`); a
    client sends the same token for its whole lifetime. So verified tokens' principals
    are kept, keyed by the token's SHA-256 (no token is held in memory), until the
    token's own `exp`, at most `max_cached` of them (the oldest go first). Only verified
    tokens are kept: a forged one costs a full verification every time.
    """

    def __init__(
        self, keys: KeySource, *, issuer: str, audience: str, max_cached: int = 10_000
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.max_cached = max_cached
        self._verified: dict[bytes, tuple[float, Principal]] = {}
        # kid -> (the JWK as the source gave it, the key built from it).
        self._keys: dict[str, tuple[Mapping[str, Any], Key]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token; `Unauthorized` for anything else."""
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            if time.time() < cached[0]:
                return cached[1]
            del self._verified[digest]
        principal = await self._verify(token)
        expires = jwt.get_unverified_claims(token).get("exp")
        if isinstance(expires, int | float) and self.max_cached > 0:
            if len(self._verified) >= self.max_cached:
                del self._verified[next(iter(self._verified))]
            self._verified[digest] = (float(expires), principal)
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise Unauthorized("The access token is malformed.") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise Unauthorized("The access token is not signed the way we sign them.")
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthorized("This is not an access token.")
        public = await self.keys.get(kid)
        if public is None:
            raise Unauthorized("The access token is signed with an unknown key.")
        try:
            claims = jwt.decode(
                token,
                self._key(kid, public),
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # python-jose skips the audience and issuer checks when the claim is absent.
                options={
                    "require_aud": True,
                    "require_iss": True,
                    "require_exp": True,
                    "require_sub": True,
                    "require_iat": True,
                },
            )
            return Principal(
                id=int(claims["sub"]),
                is_staff=bool(claims.get("staff", False)),
                issued_at=float(claims["iat"]),
                token_id=str(claims.get("jti") or ""),
                expires_at=float(claims["exp"]),
            )
        except (JOSEError, ValueError, TypeError) as exc:
            raise Unauthorized("The access token is invalid or expired.") from exc

    def _key(self, kid: str, public: Mapping[str, Any]) -> Key:
        """The key object of a JWK, built again only when the source's JWK changes."""
        built = self._keys.get(kid)
        if built is None or built[0] != public:
            built = self._keys[kid] = (public, jwk.construct(dict(public), ALGORITHM))
        return built[1]


class Revocations:
    """Revocations in Redis that every service checks: per-user "not before" times
    (tokens issued before are refused) and single revoked tokens (by `jti`).

    The users service writes a "not before" when it deactivates a user or changes their
    staff flag (`revoke`), and revokes the access token a logout was called with
    (`revoke_token`); every service reads both on each authenticated request (`check`,
    one MGET), through an in-process cache of `cache_seconds`, so a revocation takes
    effect within that time. A record lives as long as the tokens it refuses can, then
    expires by itself. If Redis cannot be read, the last known values are used (or
    none): an outage of Redis must not log everyone out; that trade-off is in
    docs/security.md.
    """

    PREFIX = "auth:not-before:"
    TOKEN_PREFIX = "auth:revoked-token:"  # noqa: S105 (a key prefix, not a secret)

    def __init__(self, redis: Redis, *, cache_seconds: float = 1.0, max_entries: int = 50_000):
        self.redis = redis
        self.cache_seconds = cache_seconds
        self.max_entries = max_entries
        self._cache: dict[int, tuple[float, float | None]] = {}
        self._tokens: dict[str, tuple[float, bool]] = {}

    async def revoke(self, user_id: int, *, at: float, ttl_seconds: int) -> None:
        await self.redis.set(f"{self.PREFIX}{user_id}", repr(at), ex=max(1, ttl_seconds))
        self._cache[user_id] = (time.monotonic(), at)  # this process knows at once

    async def revoke_token(self, principal: Principal) -> None:
        """Refuse this one access token everywhere until it would have expired."""
        remaining = math.ceil(principal.expires_at - time.time())
        if not principal.token_id or remaining <= 0:
            return  # nothing to refuse: it carries no id, or it expires anyway
        await self.redis.set(f"{self.TOKEN_PREFIX}{principal.token_id}", "1", ex=remaining)
        self._tokens[principal.token_id] = (time.monotonic(), True)

    async def not_before(self, user_id: int) -> float | None:
        return (await self._lookup(user_id, ""))[0]

    async def _lookup(self, user_id: int, token_id: str) -> tuple[float | None, bool]:
        """The user's "not before" and whether the token is revoked, cached or from Redis."""
        now = time.monotonic()
        user = self._cache.get(user_id)
        token = self._tokens.get(token_id) if token_id else (now, False)
        if (
            user is not None
            and token is not None
            and now - min(user[0], token[0]) < self.cache_seconds
        ):
            return user[1], token[1]
        keys = [f"{self.PREFIX}{user_id}"]
        if token_id:
            keys.append(f"{self.TOKEN_PREFIX}{token_id}")
        try:
            raw = await self.redis.mget(keys)
        except RedisError:
            log.warning("token revocations unreadable; using the last known", exc_info=True)
            return (user[1] if user else None), (token[1] if token else False)
        not_before = float(raw[0]) if raw[0] is not None else None
        revoked = len(raw) > 1 and raw[1] is not None
        for cache in (self._cache, self._tokens):
            if len(cache) >= self.max_entries:
                cache.clear()  # bounded: many distinct users or tokens only cost re-reads
        self._cache[user_id] = (now, not_before)
        if token_id:
            self._tokens[token_id] = (now, revoked)
        return not_before, revoked

    async def check(self, principal: Principal) -> None:
        """401 if the principal's token was revoked, or issued before their revocation."""
        not_before, revoked = await self._lookup(principal.id, principal.token_id)
        if revoked or (not_before is not None and principal.issued_at < not_before):
            raise Unauthorized("The access token was revoked; log in again.")


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login/")


async def _current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Authentication required: send `Authorization: Bearer <access>`.")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    revocations: Revocations = request.app.state.revocations
    await revocations.check(principal)
    return principal


async def _staff_user(user: Annotated[Principal, Depends(_current_user)]) -> Principal:
    if not user.is_staff:
        raise Forbidden("This needs a staff account.")
    return user


async def authenticate_before_body(request: Request) -> None:
    """Raise what the route's own authentication would (401, or 403 for staff routes).

    FastAPI parses a JSON body before it runs any dependency, so a malformed body would
    answer 400 to a caller who is not even authenticated; the 400 handler calls this
    first, so that authentication is always checked before the body is looked at.
    """
    calls = _dependency_calls(request.scope.get("route"))
    if _current_user not in calls and _staff_user not in calls:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
    user = await _current_user(request, credentials if token.strip() else None)
    if _staff_user in calls:
        await _staff_user(user)


def _dependency_calls(route: object) -> set[object]:
    dependant = getattr(route, "dependant", None)
    stack, calls = ([dependant] if dependant is not None else []), set()
    while stack:
        current = stack.pop()
        calls.add(current.call)
        stack.extend(current.dependencies)
    return calls


async def _presented_token(request: Request) -> Principal | None:
    """The caller's valid access token, if they sent one; None otherwise (never a 401).
    Read from the header itself, so that the route does not document a required login."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(token.strip())
    except Unauthorized:
        return None


CurrentUser = Annotated[Principal, Depends(_current_user)]
# Routes that work with or without a token, such as logout (which revokes the one sent).
PresentedToken = Annotated[Principal | None, Depends(_presented_token)]
StaffUser = Annotated[Principal, Depends(_staff_user)]
