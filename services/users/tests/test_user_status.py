"""PATCH /api/users/{id}/: staff deactivate, reactivate, promote and demote accounts;
the user's tokens stop working at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shared.testing import bearer
from users.db.tables import outbox

PASSWORD = "correct horse battery"
STAFF_ID = 900_000


@pytest.fixture
def staff(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(STAFF_ID, staff=True))


async def _event_types(app: FastAPI) -> list[str]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(select(outbox.table.c.envelope).order_by(outbox.table.c.id))
        return [e["type"] for e in rows.scalars()]


async def test_deactivation_ends_every_token_and_reactivation_lets_the_user_back(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any, staff: dict[str, str]
) -> None:
    user = await register()
    pair = await login()
    access = bearer(pair["access"])
    assert (await client.get("/api/users/me/", headers=access)).status_code == 200

    off = await client.patch(f"/api/users/{user['id']}/", json={"is_active": False}, headers=staff)
    assert off.status_code == 200, off.text
    assert off.json()["is_active"] is False
    refused = await client.get("/api/users/me/", headers=access)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    refresh = await client.post("/api/auth/refresh/", json={"refresh": pair["refresh"]})
    assert refresh.status_code == 401
    login_again = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert login_again.status_code == 401
    assert (await _event_types(app))[-1] == "users.UserDeactivated"

    on = await client.patch(f"/api/users/{user['id']}/", json={"is_active": True}, headers=staff)
    assert on.status_code == 200
    assert (await _event_types(app))[-1] == "users.UserUpdated"
    fresh = bearer((await login())["access"])
    assert (await client.get("/api/users/me/", headers=fresh)).status_code == 200
    # The tokens from before the deactivation stay dead.
    assert (await client.get("/api/users/me/", headers=access)).status_code == 401


async def test_a_demoted_users_staff_token_stops_working(
    client: httpx.AsyncClient, register: Any, login: Any, staff: dict[str, str]
) -> None:
    user = await register()
    up = await client.patch(f"/api/users/{user['id']}/", json={"is_staff": True}, headers=staff)
    assert up.json()["is_staff"] is True
    as_staff = bearer((await login())["access"])
    assert (await client.get("/api/users/", headers=as_staff)).status_code == 200
    down = await client.patch(f"/api/users/{user['id']}/", json={"is_staff": False}, headers=staff)
    assert down.status_code == 200
    assert (await client.get("/api/users/", headers=as_staff)).status_code == 401
    as_customer = bearer((await login())["access"])
    assert (await client.get("/api/users/", headers=as_customer)).status_code == 403
    assert (await client.get("/api/users/me/", headers=as_customer)).status_code == 200


async def test_only_staff_change_accounts_and_not_their_own(
    client: httpx.AsyncClient,
    register: Any,
    login: Any,
    staff: dict[str, str],
    mint_token: Callable[..., str],
) -> None:
    user = await register()
    other = await register("bob@example.com")
    alice = bearer((await login())["access"])
    forbidden = await client.patch(
        f"/api/users/{other['id']}/", json={"is_active": False}, headers=alice
    )
    assert forbidden.status_code == 403
    own = bearer(mint_token(user["id"], staff=True))
    self_change = await client.patch(
        f"/api/users/{user['id']}/", json={"is_staff": False}, headers=own
    )
    assert self_change.status_code == 409
    missing = await client.patch("/api/users/77777/", json={"is_active": False}, headers=staff)
    assert missing.status_code == 404
    assert (await client.get("/api/users/me/", headers=alice)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"is_active": "false"}, {"is_active": 0}, {"is_staff": None}, {"email": "x@example.com"}],
)
async def test_invalid_status_change_is_422_and_changes_nothing(
    client: httpx.AsyncClient, register: Any, staff: dict[str, str], body: dict[str, Any]
) -> None:
    user = await register()
    response = await client.patch(f"/api/users/{user['id']}/", json=body, headers=staff)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    me = await client.get(f"/api/users/{user['id']}/", headers=staff)
    assert me.json()["is_active"] is True
    assert me.json()["is_staff"] is False
