"""POST /api/auth/login/ and its brute-force limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import update

from shared.testing import bearer
from users.db.tables import User
from users.domain.passwords import PasswordHasher

PASSWORD = "correct horse battery"


async def test_login_returns_a_token_pair(client: httpx.AsyncClient, register: Any) -> None:
    await register()
    response = await client.post(
        "/api/auth/login/", json={"email": "ALICE@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    me = await client.get("/api/users/me/", headers=bearer(body["access"]))
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"


async def test_wrong_password_and_unknown_email_answer_alike(
    client: httpx.AsyncClient, register: Any
) -> None:
    await register()
    wrong_password = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "not the password"}
    )
    unknown_email = await client.post(
        "/api/auth/login/", json={"email": "nobody@example.com", "password": "not the password"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    strip = {"request_id"}
    assert {k: v for k, v in wrong_password.json().items() if k not in strip} == {
        k: v for k, v in unknown_email.json().items() if k not in strip
    }


async def test_unknown_email_still_costs_one_bcrypt_verify(
    client: httpx.AsyncClient, register: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Comparable timing: both failure paths run exactly one real bcrypt verification."""
    await register()
    verified: list[bool] = []
    real_verify = PasswordHasher.verify

    async def counting_verify(self: PasswordHasher, password: str, hashed: str | None) -> Any:
        verified.append(hashed is None)
        return await real_verify(self, password, hashed)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "nope!!!!"}
    )
    await client.post("/api/auth/login/", json={"email": "bob@example.com", "password": "nope!!!!"})
    assert verified == [False, True]


async def test_inactive_user_cannot_log_in(
    client: httpx.AsyncClient, app: FastAPI, register: Any
) -> None:
    user = await register()
    async with app.state.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user["id"]).values(is_active=False))
    response = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "payload",
    [{}, {"email": "alice@example.com"}, {"email": 1, "password": 2}, {"password": PASSWORD}],
)
async def test_invalid_login_body_is_422(client: httpx.AsyncClient, payload: object) -> None:
    response = await client.post("/api/auth/login/", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


LOGIN = "/api/auth/login/"
WRONG = {"email": "alice@example.com", "password": "wrong password"}
RIGHT = {"email": "alice@example.com", "password": PASSWORD}


@pytest.fixture
async def from_address(app: FastAPI) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of the same app seen from other client addresses (closed after the test)."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


async def pass_the_delay(redis: Redis) -> None:
    """Let the wait after the last failure run out, as the clock would (no sleeping)."""
    async for key in redis.scan_iter("users:login-failures:pair:*"):
        await redis.hset(key, "next_at", "0")


async def test_strangers_guessing_cannot_lock_the_owner_out(
    client: httpx.AsyncClient, register: Any, from_address: Callable[[str], httpx.AsyncClient]
) -> None:
    await register()
    # Ten addresses guess until each is slowed down: 60 failures on the account.
    for i in range(10):
        stranger = from_address(f"203.0.113.{i}")
        answers = [(await stranger.post(LOGIN, json=WRONG)).status_code for _ in range(7)]
        assert answers == [401] * 6 + [429]
    # The owner, from their own address, gets in at once.
    assert (await client.post(LOGIN, json=RIGHT)).status_code == 200


async def test_guessing_from_one_address_is_slowed_down_progressively(
    client: httpx.AsyncClient, register: Any, redis: Redis
) -> None:
    await register()
    for _ in range(5):  # typos are free
        assert (await client.post(LOGIN, json=WRONG)).status_code == 401
    waits = []
    for _ in range(4):
        assert (await client.post(LOGIN, json=WRONG)).status_code == 401
        slowed = await client.post(LOGIN, json=RIGHT)  # not even checked while slowed
        assert slowed.status_code == 429
        assert slowed.headers["content-type"] == "application/problem+json"
        waits.append(int(slowed.headers["Retry-After"]))
        await pass_the_delay(redis)
    assert waits == [1, 2, 4, 8]
    assert (await client.post(LOGIN, json=RIGHT)).status_code == 200
    # Success forgets the failures of this address: typos are free again.
    assert (await client.post(LOGIN, json=WRONG)).status_code == 401
    assert (await client.post(LOGIN, json=RIGHT)).status_code == 200


class TestAccountCeiling:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"login_max_failures_per_account": 8}

    async def test_distributed_guessing_stops_at_the_ceiling_but_not_the_owner(
        self,
        client: httpx.AsyncClient,
        register: Any,
        from_address: Callable[[str], httpx.AsyncClient],
    ) -> None:
        await register()
        assert (await client.post(LOGIN, json=RIGHT)).status_code == 200  # a known address
        for i in range(4):
            stranger = from_address(f"198.51.100.{i}")
            for _ in range(2):
                assert (await stranger.post(LOGIN, json=WRONG)).status_code == 401
        # Eight failures: any new address is refused, even with the right password ...
        newcomer = await from_address("192.0.2.7").post(LOGIN, json=RIGHT)
        assert newcomer.status_code == 429
        assert int(newcomer.headers["Retry-After"]) > 0
        # ... and the owner's address, where the password worked before, is not.
        assert (await client.post(LOGIN, json=RIGHT)).status_code == 200


class TestAddressLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"login_max_failures_per_address": 3}

    async def test_repeated_failures_from_one_address_are_throttled(
        self, client: httpx.AsyncClient, register: Any
    ) -> None:
        await register()
        for i in range(3):
            response = await client.post(
                "/api/auth/login/", json={"email": f"guess{i}@example.com", "password": "whatever1"}
            )
            assert response.status_code == 401
        response = await client.post(
            "/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
        )
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0


async def test_success_resets_the_account_counter(client: httpx.AsyncClient, register: Any) -> None:
    await register()
    for _ in range(3):
        await client.post(
            "/api/auth/login/", json={"email": "alice@example.com", "password": "wrong password"}
        )
    ok = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert ok.status_code == 200
    for _ in range(3):
        response = await client.post(
            "/api/auth/login/", json={"email": "alice@example.com", "password": "wrong password"}
        )
        assert response.status_code == 401
