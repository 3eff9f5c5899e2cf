"""Logins and registrations hold no database connection while bcrypt runs, and bcrypt
runs off the event loop: with a pool of one connection, other requests are served while
a password is being checked."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.dbadmin import admin_url
from shared.testing import bearer
from users.domain.passwords import PasswordHasher

PASSWORD = "correct horse battery"
# A stuck request fails the test instead of hanging it.
STEP_TIMEOUT = 20


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"db_pool_size": 1, "db_max_overflow": 0}


@pytest.fixture
async def admin(test_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(admin_url().rsplit("/", 1)[0] + f"/{test_database}")
    yield conn
    await conn.close()


async def users_sessions(admin: asyncpg.Connection, test_database: str) -> list[str]:
    """The states of the users service's connections to the test database."""
    rows = await admin.fetch(
        "SELECT state FROM pg_stat_activity WHERE datname = $1 AND application_name = 'users'",
        test_database,
    )
    return [row["state"] for row in rows]


class Gate:
    """Holds every call of one PasswordHasher method until opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hasher: PasswordHasher, name: str):
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.requests: list[asyncio.Task[httpx.Response]] = []
        real: Callable[..., Any] = getattr(hasher, name)

        async def gated(*args: Any) -> Any:
            self.entered.set()
            await self.opened.wait()
            return await real(*args)

        monkeypatch.setattr(hasher, name, gated)

    def send(self, request: Coroutine[Any, Any, httpx.Response]) -> asyncio.Task[httpx.Response]:
        self.requests.append(asyncio.create_task(request))
        return self.requests[-1]


@pytest.fixture
async def gates(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Gate]]:
    """Gates opened at the end whatever happens: a held request must finish (and give
    back its connection) before the app stops and the schema is truncated."""
    made: list[Gate] = []

    def make(hasher: PasswordHasher, name: str) -> Gate:
        made.append(Gate(monkeypatch, hasher, name))
        return made[-1]

    yield make
    for gate in made:
        gate.opened.set()
        await asyncio.wait_for(asyncio.gather(*gate.requests, return_exceptions=True), STEP_TIMEOUT)


async def test_a_pool_of_one_serves_others_while_a_login_checks_its_password(
    app: FastAPI,
    client: httpx.AsyncClient,
    register: Any,
    login: Any,
    admin: asyncpg.Connection,
    test_database: str,
    gates: Callable[..., Gate],
) -> None:
    await register()
    access = (await login())["access"]
    gate = gates(app.state.auth.hasher, "verify")
    pending = gate.send(
        client.post("/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD})
    )
    await asyncio.wait_for(gate.entered.wait(), STEP_TIMEOUT)
    # The login is inside its password check now: it holds no transaction open ...
    assert "idle in transaction" not in await users_sessions(admin, test_database)
    # ... and the only pooled connection serves another request meanwhile.
    me = await asyncio.wait_for(client.get("/api/users/me/", headers=bearer(access)), STEP_TIMEOUT)
    assert me.status_code == 200
    assert not pending.done()
    gate.opened.set()
    response = await asyncio.wait_for(pending, STEP_TIMEOUT)
    assert response.status_code == 200
    assert (await client.get("/api/users/me/", headers=bearer(response.json()["access"]))).json()[
        "email"
    ] == "alice@example.com"


async def test_a_pool_of_one_serves_others_while_a_registration_hashes(
    app: FastAPI,
    client: httpx.AsyncClient,
    register: Any,
    login: Any,
    admin: asyncpg.Connection,
    test_database: str,
    gates: Callable[..., Gate],
) -> None:
    await register()
    access = (await login())["access"]
    gate = gates(app.state.auth.hasher, "hash")
    pending = gate.send(
        client.post(
            "/api/auth/register/",
            json={"email": "bob@example.com", "username": "bob", "password": PASSWORD},
        )
    )
    await asyncio.wait_for(gate.entered.wait(), STEP_TIMEOUT)
    assert "idle in transaction" not in await users_sessions(admin, test_database)
    me = await asyncio.wait_for(client.get("/api/users/me/", headers=bearer(access)), STEP_TIMEOUT)
    assert me.status_code == 200
    gate.opened.set()
    assert (await asyncio.wait_for(pending, STEP_TIMEOUT)).status_code == 201


async def test_bcrypt_runs_in_a_worker_thread(
    app: FastAPI, client: httpx.AsyncClient, register: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register()
    context = app.state.auth.hasher._context
    threads: list[threading.Thread] = []
    real = context.verify_and_update

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(context, "verify_and_update", recording)
    response = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert threads
    assert threading.main_thread() not in threads
