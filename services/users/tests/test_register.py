"""POST /api/auth/register/."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from users.db.tables import User

PASSWORD = "correct horse battery"


async def count_users(app: FastAPI) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(User))).scalar_one())


async def test_register_creates_user_without_exposing_the_hash(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post(
        "/api/auth/register/",
        json={
            "email": "Alice@Example.com",
            "username": "alice",
            "password": PASSWORD,
            "first_name": "Alice",
            "last_name": "Liddell",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "alice@example.com"
    assert body["username"] == "alice"
    assert body["first_name"] == "Alice"
    assert body["is_staff"] is False
    assert body["is_active"] is True
    assert "password" not in response.text
    assert "hash" not in response.text

    async with app.state.engine.connect() as conn:
        stored = (await conn.execute(select(User.password_hash))).scalar_one()
    assert stored.startswith("$2b$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "username", "taken"),
    [
        ("alice@example.com", "someone", "email"),
        ("ALICE@example.com", "someone", "email"),
        ("other@example.com", "alice", "username"),
        ("other@example.com", "ALICE", "username"),
    ],
)
async def test_duplicate_email_or_username_is_409(
    client: httpx.AsyncClient, app: FastAPI, email: str, username: str, taken: str
) -> None:
    first = await client.post(
        "/api/auth/register/",
        json={"email": "alice@example.com", "username": "alice", "password": PASSWORD},
    )
    assert first.status_code == 201
    response = await client.post(
        "/api/auth/register/", json={"email": email, "username": username, "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["taken"] == [taken]
    assert await count_users(app) == 1


@pytest.mark.parametrize(
    "password",
    [
        "short7!",  # under 8 characters
        "12345678901",  # all digits
        "alice@example.com",  # the email
        "Alice_Wonder",  # the username, other case
        "é" * 40,  # over bcrypt's 72 bytes
    ],
)
async def test_weak_password_is_422_naming_the_field(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    response = await client.post(
        "/api/auth/register/",
        json={"email": "alice@example.com", "username": "alice_wonder", "password": password},
    )
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert body["status"] == 422
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert password not in response.text
    assert await count_users(app) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email", "username": "alice", "password": PASSWORD},
        {"email": "alice@example.com", "username": "a b", "password": PASSWORD},
        {"email": "alice@example.com", "username": "al", "password": PASSWORD},
        {"email": "alice@example.com", "password": PASSWORD},
        {"email": "alice@example.com", "username": 42, "password": PASSWORD},
        {"email": "alice@example.com", "username": "alice", "password": None},
        {"email": "alice@example.com", "username": "alice", "password": PASSWORD, "is_staff": True},
        [],
        "just a string",
    ],
)
async def test_invalid_body_is_422_problem_and_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI, payload: object
) -> None:
    response = await client.post("/api/auth/register/", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert body["errors"]
    assert all("input" not in e for e in body["errors"])
    assert PASSWORD not in response.text
    assert await count_users(app) == 0


async def test_malformed_json_is_400_problem(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post(
        "/api/auth/register/",
        content=b'{"email": "alice@example.com", "username": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/bad-request"
    assert await count_users(app) == 0


async def test_register_works_without_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "alice@example.com", "username": "alice", "password": PASSWORD},
    )
    assert response.status_code == 201


async def test_registration_publishes_user_registered_without_secrets(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    from users.db.tables import outbox

    response = await client.post(
        "/api/auth/register/",
        json={
            "email": "ann@example.com",
            "username": "ann",
            "password": PASSWORD,
            "first_name": "Ann",
        },
    )
    user_id = response.json()["id"]
    # A refused registration publishes nothing.
    await client.post(
        "/api/auth/register/",
        json={"email": "ann@example.com", "username": "ann2", "password": PASSWORD},
    )
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.table.c.envelope))).scalars().all()
    assert len(rows) == 1
    event = rows[0]
    assert event["type"] == "users.UserRegistered"
    assert event["aggregate_id"] == str(user_id)
    assert event["payload"] == {
        "user_id": user_id,
        "email": "ann@example.com",
        "username": "ann",
        "first_name": "Ann",
        "last_name": "",
        "is_active": True,
        "is_staff": False,
    }
    assert PASSWORD not in str(event)
    assert "$2b$" not in str(event)
