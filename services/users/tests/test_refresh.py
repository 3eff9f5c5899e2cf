"""POST /api/auth/refresh/ (rotation, reuse detection) and /api/auth/logout/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from shared.testing import bearer
from users.db.tables import RefreshToken
from users.domain.tokens import hash_refresh_token


@pytest.fixture
async def pair(register: Any, login: Any) -> dict[str, Any]:
    await register()
    tokens: dict[str, Any] = await login()
    return tokens


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh/", json={"refresh": token})


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, pair: dict[str, Any]) -> None:
    response = await refresh(client, pair["refresh"])
    assert response.status_code == 200
    new = response.json()
    assert new["refresh"] != pair["refresh"]
    assert new["token_type"] == "bearer"
    assert (await client.get("/api/users/me/", headers=bearer(new["access"]))).status_code == 200
    # The new refresh token works once more.
    assert (await refresh(client, new["refresh"])).status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    client: httpx.AsyncClient, app: FastAPI, pair: dict[str, Any]
) -> None:
    rotated = (await refresh(client, pair["refresh"])).json()
    reuse = await refresh(client, pair["refresh"])
    assert reuse.status_code == 401
    assert reuse.headers["content-type"] == "application/problem+json"
    # The legitimate successor is dead too: the thief and the victim both log in again.
    assert (await refresh(client, rotated["refresh"])).status_code == 401
    async with app.state.engine.connect() as conn:
        revoked = (await conn.execute(select(RefreshToken.revoked_at))).scalars().all()
    assert len(revoked) == 2
    assert all(r is not None for r in revoked)


async def test_other_logins_survive_a_family_revocation(
    client: httpx.AsyncClient, pair: dict[str, Any], login: Any
) -> None:
    other = await login()
    await refresh(client, pair["refresh"])
    await refresh(client, pair["refresh"])
    assert (await refresh(client, other["refresh"])).status_code == 200


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, app: FastAPI, pair: dict[str, Any]
) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(pair["refresh"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await refresh(client, pair["refresh"])).status_code == 401


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await refresh(client, "made-up-token")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("payload", [{}, {"refresh": ""}, {"refresh": 5}, {"refresh": "x" * 300}])
async def test_invalid_refresh_body_is_422(client: httpx.AsyncClient, payload: object) -> None:
    assert (await client.post("/api/auth/refresh/", json=payload)).status_code == 422


async def test_logout_revokes_the_refresh_token(
    client: httpx.AsyncClient, app: FastAPI, pair: dict[str, Any]
) -> None:
    response = await client.post("/api/auth/logout/", json={"refresh": pair["refresh"]})
    assert response.status_code == 204
    assert response.content == b""
    assert (await refresh(client, pair["refresh"])).status_code == 401
    async with app.state.engine.connect() as conn:
        revoked_at = (await conn.execute(select(RefreshToken.revoked_at))).scalar_one()
    assert revoked_at is not None


async def test_logout_of_an_unknown_token_is_204(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/logout/", json={"refresh": "made-up-token"})
    assert response.status_code == 204


class TestFamilyLifetime:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"refresh_family_max_age_seconds": 3600}

    async def test_rotation_never_extends_a_login_past_its_absolute_lifetime(
        self, client: httpx.AsyncClient, app: FastAPI, pair: dict[str, Any]
    ) -> None:
        first = await refresh(client, pair["refresh"])
        assert first.status_code == 200
        async with app.state.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(RefreshToken.expires_at, RefreshToken.family_expires_at).where(
                        RefreshToken.token_hash == hash_refresh_token(first.json()["refresh"])
                    )
                )
            ).one()
        # The rotated token expires with its family, an hour after the login, not in 30 days.
        assert row.expires_at <= row.family_expires_at <= datetime.now(UTC) + timedelta(hours=1)
        async with app.state.engine.begin() as conn:
            await conn.execute(
                update(RefreshToken).values(
                    family_expires_at=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        again = await refresh(client, first.json()["refresh"])
        assert again.status_code == 401
        assert again.headers["content-type"] == "application/problem+json"
