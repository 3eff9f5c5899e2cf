"""Fixtures of the users service tests: the real app on the test database and Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import update

from shared.testing import ServiceUnderTest, service_fixtures
from users.db.tables import User
from users.main import create_app
from users.settings import UsersSettings

PASSWORD = "correct horse battery"


settings, app = service_fixtures(
    ServiceUnderTest(
        "users",
        UsersSettings,
        create_app,
        defaults={"bcrypt_rounds": 4},  # the cheapest cost bcrypt allows; production uses 12
        from_fixtures={"jwt_private_key_file": "jwt_private_key_file"},
        verifies_tokens=False,  # it signs them, and serves the JWKS the others fetch
    )
)


@pytest.fixture
async def redis(app: FastAPI) -> Redis:
    client: Redis = app.state.redis
    return client


Register = Callable[..., Awaitable[dict[str, Any]]]
Login = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register(client: httpx.AsyncClient) -> Register:
    async def register(
        email: str = "alice@example.com", username: str | None = None, password: str = PASSWORD
    ) -> dict[str, Any]:
        response = await client.post(
            "/api/auth/register/",
            json={
                "email": email,
                "username": username or email.split("@")[0],
                "password": password,
            },
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return register


@pytest.fixture
def login(client: httpx.AsyncClient) -> Login:
    async def login(email: str = "alice@example.com", password: str = PASSWORD) -> dict[str, Any]:
        response = await client.post(
            "/api/auth/login/", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return login


@pytest.fixture
def promote_to_staff(app: FastAPI) -> Callable[[int], Awaitable[None]]:
    async def promote(user_id: int) -> None:
        async with app.state.engine.begin() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(is_staff=True))

    return promote
