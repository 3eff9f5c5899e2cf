"""Access tokens (short-lived RS256 JWTs) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from datetime import datetime, timedelta

from jose import jwt

from shared.auth import ACCESS_TOKEN_TYPE
from users.keys import SigningKeys

ALGORITHM = "RS256"


def issue_access_token(
    *,
    user_id: int,
    is_staff: bool,
    keys: SigningKeys,
    issuer: str,
    audience: str,
    now: datetime,
    ttl: timedelta,
) -> str:
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        # To the millisecond (a NumericDate may have a fraction): a revocation at time t
        # refuses tokens issued before t, and accepts one issued a moment after it. Cut,
        # not rounded: rounded up, a token issued just before t looked issued after it.
        "iat": math.floor(now.timestamp() * 1000) / 1000,
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "staff": is_staff,
    }
    headers = {"kid": keys.kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(claims, keys.private_pem, algorithm=ALGORITHM, headers=headers)


def new_refresh_token() -> str:
    """256 random bits; only their hash is stored, so a database leak reveals no token."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
