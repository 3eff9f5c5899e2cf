"""PATCH /api/users/me/: a customer edits their own username and names."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shared.testing import bearer
from users.db.tables import User, outbox


async def _events(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(select(outbox.table.c.envelope).order_by(outbox.table.c.id))
        return [e for e in rows.scalars() if e["type"] == "users.UserUpdated"]


async def _user(app: FastAPI, user_id: int) -> User:
    async with app.state.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


async def test_profile_edit_changes_the_account_and_tells_other_services(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any
) -> None:
    user = await register()
    token = bearer((await login())["access"])
    response = await client.patch(
        "/api/users/me/",
        json={"username": "ally", "first_name": "Alice", "last_name": "Liddell"},
        headers=token,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["username"], body["first_name"], body["last_name"]) == (
        "ally",
        "Alice",
        "Liddell",
    )
    assert body["email"] == "alice@example.com"
    assert (await client.get("/api/users/me/", headers=token)).json() == body
    stored = await _user(app, user["id"])
    assert (stored.username, stored.first_name, stored.last_name) == ("ally", "Alice", "Liddell")
    [event] = await _events(app)
    assert event["aggregate_id"] == str(user["id"])
    assert event["payload"]["username"] == "ally"
    assert event["payload"]["last_name"] == "Liddell"
    assert "password" not in str(event)

    # Only the fields sent change.
    again = await client.patch("/api/users/me", json={"last_name": ""}, headers=token)
    assert (again.json()["username"], again.json()["last_name"]) == ("ally", "")


async def test_an_edit_that_changes_nothing_publishes_nothing(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any
) -> None:
    await register()
    token = bearer((await login())["access"])
    for body in ({}, {"username": "alice"}):
        response = await client.patch("/api/users/me/", json=body, headers=token)
        assert response.status_code == 200
        assert response.json()["username"] == "alice"
    assert await _events(app) == []


async def test_a_username_someone_else_has_is_409(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any
) -> None:
    alice = await register()
    await register("bob@example.com")
    token = bearer((await login())["access"])
    for taken in ("bob", "BOB"):
        response = await client.patch(
            "/api/users/me/", json={"username": taken, "first_name": "Al"}, headers=token
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
    stored = await _user(app, alice["id"])
    assert (stored.username, stored.first_name) == ("alice", "")
    assert await _events(app) == []
    # Changing the case of one's own name is not a conflict.
    own = await client.patch("/api/users/me/", json={"username": "Alice"}, headers=token)
    assert own.status_code == 200
    assert own.json()["username"] == "Alice"


async def test_two_users_racing_for_one_username_get_one_200_and_one_409(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any
) -> None:
    await register()
    await register("bob@example.com")
    tokens = [
        bearer((await login(email))["access"]) for email in ("alice@example.com", "bob@example.com")
    ]
    responses = await asyncio.gather(
        *(client.patch("/api/users/me/", json={"username": "winner"}, headers=t) for t in tokens)
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    async with app.state.sessionmaker() as session:
        names = (await session.execute(select(User.username))).scalars().all()
    assert len(names) == 2
    assert names.count("winner") == 1
    assert len(await _events(app)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.com"},  # the email is the login: not editable here
        {"is_staff": True},
        {"password": "another long secret"},
        {"username": "ab"},
        {"username": "has space"},
        {"username": None},
        {"first_name": None},
        {"first_name": 5},
        {"last_name": "x" * 151},
        {"first_name": "Al\u0000ice"},  # PostgreSQL cannot store NUL
        [],
        "alice",
    ],
)
async def test_bad_edits_are_422_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any, body: Any
) -> None:
    user = await register()
    token = bearer((await login())["access"])
    response = await client.patch("/api/users/me/", json=body, headers=token)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    stored = await _user(app, user["id"])
    assert (stored.username, stored.is_staff, stored.email) == ("alice", False, "alice@example.com")
    assert await _events(app) == []


async def test_malformed_json_and_missing_tokens_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any
) -> None:
    await register()
    token = bearer((await login())["access"])
    malformed = await client.patch(
        "/api/users/me/",
        content=b'{"username": ',
        headers={**token, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    anonymous = await client.patch("/api/users/me/", json={"username": "zed"})
    assert anonymous.status_code == 401
    forged = await client.patch(
        "/api/users/me/", json={"username": "zed"}, headers=bearer("not.a.token")
    )
    assert forged.status_code == 401
    assert await _events(app) == []
