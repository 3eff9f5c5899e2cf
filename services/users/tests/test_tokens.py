"""Access-token verification: every forgery is a 401, and the JWKS verifies real tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwk, jwt

from shared.testing import bearer
from users.domain.tokens import issue_access_token
from users.keys import SigningKeys, generate_private_key

ISSUER, AUDIENCE = "highload-shop-users", "highload-shop"


@pytest.fixture
async def tokens(register: Any, login: Any) -> dict[str, Any]:
    user = await register()
    return {**await login(), "user_id": user["id"]}


def signing_keys(client: httpx.AsyncClient) -> SigningKeys:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    keys: SigningKeys = transport.app.state.auth.keys  # type: ignore[attr-defined]
    return keys


def claims_for(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "exp": now + 600,
        "staff": False,
        **overrides,
    }


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def assert_rejected(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/api/users/me/", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_jwks_publishes_the_key_that_signs_tokens(
    client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    kid = jwt.get_unverified_header(tokens["access"])["kid"]
    key = next(k for k in keys if k["kid"] == kid)
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert "d" not in key  # never the private part
    claims = jwt.decode(tokens["access"], key, algorithms=["RS256"], audience=AUDIENCE)
    assert claims["sub"] == str(tokens["user_id"])
    assert claims["iss"] == ISSUER
    assert claims["staff"] is False
    assert 899 < claims["exp"] - claims["iat"] <= 900  # iat has milliseconds


@pytest.mark.parametrize("fraction", [0.0, 0.0004, 0.4996, 0.9995, 0.9999])
def test_a_token_is_never_stamped_later_than_it_was_issued(tmp_path: Path, fraction: float) -> None:
    """`iat` has milliseconds, cut, never rounded up: a token issued just before a user's
    revocation (its "not before", full precision) must not look issued after it, and it
    lives exactly its lifetime, give or take a millisecond."""
    generate_private_key(tmp_path / "key.pem")
    pem = (tmp_path / "key.pem").read_text()
    keys = SigningKeys(private_pem=pem, kid="k", public_jwks={})
    now = datetime.fromtimestamp(1_796_353_980 + fraction, UTC)
    token = issue_access_token(
        user_id=1,
        is_staff=False,
        keys=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=now,
        ttl=timedelta(seconds=900),
    )
    claims = jwt.get_unverified_claims(token)
    assert now.timestamp() - 0.001 < claims["iat"] <= now.timestamp()
    assert 899 < claims["exp"] - claims["iat"] <= 900


async def test_missing_or_malformed_authorization_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/users/me/")).status_code == 401
    assert (
        await client.get("/api/users/me/", headers={"Authorization": "Basic abc"})
    ).status_code == 401
    await assert_rejected(client, "not-a-jwt")
    await assert_rejected(client, "a.b.c")


async def test_alg_none_is_rejected(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    kid = signing_keys(client).kid
    token = (
        f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64(claims_for(tokens['user_id']))}."
    )
    await assert_rejected(client, token)


async def test_hs256_signed_with_the_public_key_is_rejected(
    client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    keys = signing_keys(client)
    public_pem = jwk.construct(keys.private_pem, "RS256").public_key().to_pem().decode()
    # Forged by hand: jose itself refuses to HMAC-sign with an RSA key.
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': keys.kid})}." + b64(
        claims_for(tokens["user_id"], staff=True)
    )
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).decode().rstrip("=")
    await assert_rejected(client, f"{signing_input}.{signature}")


async def test_token_signed_by_another_key_is_rejected(
    client: httpx.AsyncClient, tokens: dict[str, Any], tmp_path: Path
) -> None:
    generate_private_key(tmp_path / "other.pem")
    other_pem = (tmp_path / "other.pem").read_text()
    kid = signing_keys(client).kid
    forged = jwt.encode(
        claims_for(tokens["user_id"]), other_pem, algorithm="RS256", headers={"kid": kid}
    )
    await assert_rejected(client, forged)
    unknown_kid = jwt.encode(
        claims_for(tokens["user_id"]), other_pem, algorithm="RS256", headers={"kid": "other"}
    )
    await assert_rejected(client, unknown_kid)


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 60},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"sub": "not-a-number"},
        {"exp": None},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "bad-subject", "no-expiry"],
)
async def test_bad_claims_are_rejected(
    client: httpx.AsyncClient, tokens: dict[str, Any], overrides: dict[str, Any]
) -> None:
    keys = signing_keys(client)
    claims = {k: v for k, v in claims_for(tokens["user_id"], **overrides).items() if v is not None}
    token = jwt.encode(claims, keys.private_pem, algorithm="RS256", headers={"kid": keys.kid})
    await assert_rejected(client, token)


async def test_tampered_payload_is_rejected(
    client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    header, payload, signature = tokens["access"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["staff"] = True
    await assert_rejected(client, f"{header}.{b64(claims)}.{signature}")
    # The untouched token still works, so the rejection is the tampering's doing.
    ok = await client.get("/api/users/me/", headers=bearer(tokens["access"]))
    assert ok.status_code == 200


async def test_token_without_audience_is_rejected(
    client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    keys = signing_keys(client)
    claims = {k: v for k, v in claims_for(tokens["user_id"]).items() if k != "aud"}
    token = jwt.encode(
        claims, keys.private_pem, algorithm="RS256", headers={"kid": keys.kid, "typ": "at+jwt"}
    )
    await assert_rejected(client, token)


@pytest.mark.parametrize("typ", ["JWT", "refresh", None])
async def test_token_of_another_type_is_rejected(
    client: httpx.AsyncClient, tokens: dict[str, Any], typ: str | None
) -> None:
    keys = signing_keys(client)
    headers: dict[str, Any] = {"kid": keys.kid, "typ": typ}
    token = jwt.encode(claims_for(tokens["user_id"]), keys.private_pem, "RS256", headers=headers)
    await assert_rejected(client, token)
    # The same claims as an access token pass, so the type is what is refused.
    headers["typ"] = "at+jwt"
    good = jwt.encode(claims_for(tokens["user_id"]), keys.private_pem, "RS256", headers=headers)
    assert (await client.get("/api/users/me/", headers=bearer(good))).status_code == 200
