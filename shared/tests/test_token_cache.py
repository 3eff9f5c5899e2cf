"""Verified access tokens are remembered until they expire; forged ones never are."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.auth import Principal, StaticKeySource, TokenVerifier
from shared.errors import Unauthorized
from users.domain.tokens import issue_access_token
from users.keys import SigningKeys, generate_private_key, load_signing_keys
from users.settings import UsersSettings


class CountingKeys(StaticKeySource):
    """The users service's public keys, counting how often a verification needs one."""

    def __init__(self, keys: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__(keys)
        self.lookups = 0

    async def get(self, kid: str) -> Mapping[str, Any] | None:
        self.lookups += 1
        return await super().get(kid)


@pytest.fixture
def signing(jwt_private_key_file: Path) -> tuple[SigningKeys, UsersSettings]:
    settings = UsersSettings(jwt_private_key_file=jwt_private_key_file)
    return load_signing_keys(settings), settings


def _token(signing: tuple[SigningKeys, UsersSettings], user_id: int, *, ttl: timedelta) -> str:
    keys, settings = signing
    return issue_access_token(
        user_id=user_id,
        is_staff=False,
        keys=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        now=datetime.now(UTC),
        ttl=ttl,
    )


def _verifier(
    signing: tuple[SigningKeys, UsersSettings], **options: Any
) -> tuple[TokenVerifier, CountingKeys]:
    keys, settings = signing
    source = CountingKeys(keys.public_jwks)
    verifier = TokenVerifier(
        source, issuer=settings.jwt_issuer, audience=settings.jwt_audience, **options
    )
    return verifier, source


async def test_a_verified_token_is_not_verified_again(
    signing: tuple[SigningKeys, UsersSettings],
) -> None:
    verifier, source = _verifier(signing)
    token = _token(signing, 7, ttl=timedelta(minutes=5))
    first = await verifier.verify(token)
    assert await verifier.verify(token) == first
    assert first.id == 7
    assert source.lookups == 1


async def test_an_expired_token_is_refused_although_it_was_remembered(
    signing: tuple[SigningKeys, UsersSettings],
) -> None:
    verifier, _ = _verifier(signing)
    token = _token(signing, 7, ttl=timedelta(seconds=1))
    assert isinstance(await verifier.verify(token), Principal)
    await asyncio.sleep(2.1)  # past its exp (whole seconds)
    with pytest.raises(Unauthorized):
        await verifier.verify(token)


async def test_forged_tokens_are_verified_every_time(
    signing: tuple[SigningKeys, UsersSettings],
) -> None:
    verifier, source = _verifier(signing)
    header, payload, signature = _token(signing, 7, ttl=timedelta(minutes=5)).split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await verifier.verify(forged)
    assert source.lookups == 2


async def test_the_cache_is_bounded(signing: tuple[SigningKeys, UsersSettings]) -> None:
    verifier, source = _verifier(signing, max_cached=2)
    tokens = [_token(signing, i, ttl=timedelta(minutes=5)) for i in (1, 2, 3)]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[2])  # still remembered
    assert source.lookups == 3
    await verifier.verify(tokens[0])  # the oldest went
    assert source.lookups == 4


async def test_the_key_follows_its_source(
    signing: tuple[SigningKeys, UsersSettings], tmp_path: Path
) -> None:
    """Each key is built from its JWK once, and again when the source's JWK changes: a
    token of the new key verifies, a token of the old one no longer does."""
    old_keys, settings = signing
    generate_private_key(tmp_path / "other.pem")
    other = load_signing_keys(UsersSettings(jwt_private_key_file=tmp_path / "other.pem"))
    kid = old_keys.kid
    source = StaticKeySource({kid: old_keys.public_jwks[kid]})
    verifier = TokenVerifier(source, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    assert (await verifier.verify(_token(signing, 1, ttl=timedelta(minutes=5)))).id == 1

    # The same key id now names another key (as a JWKS refetch may give).
    source._keys[kid] = {**other.public_jwks[other.kid], "kid": kid}
    renamed = SigningKeys(private_pem=other.private_pem, kid=kid, public_jwks={})
    assert (await verifier.verify(_token((renamed, settings), 2, ttl=timedelta(minutes=5)))).id == 2
    with pytest.raises(Unauthorized):
        await verifier.verify(_token(signing, 3, ttl=timedelta(minutes=5)))
