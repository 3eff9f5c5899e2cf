"""`make staff`: python -m users.cli create-staff, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from users.db.tables import User
from users.settings import UsersSettings


def run_cli(settings: UsersSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "USERS_DATABASE_URL": settings.database_url.get_secret_value(),
        "USERS_BCRYPT_ROUNDS": "4",
    }
    return subprocess.run(
        [sys.executable, "-m", "users.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_create_staff_creates_then_updates(
    app: FastAPI, client: httpx.AsyncClient, settings: UsersSettings
) -> None:
    created = run_cli(
        settings, "create-staff", "--email", "Boss@Example.com", "--password", "first pass 1"
    )
    assert created.returncode == 0, created.stderr
    assert "created staff account boss@example.com" in created.stdout

    updated = run_cli(
        settings, "create-staff", "--email", "boss@example.com", "--password", "second pass 2"
    )
    assert updated.returncode == 0, updated.stderr
    assert "updated" in updated.stdout

    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(select(User.email, User.is_staff))).all()
    assert rows == [("boss@example.com", True)]
    login = await client.post(
        "/api/auth/login/", json={"email": "boss@example.com", "password": "second pass 2"}
    )
    assert login.status_code == 200


async def test_create_staff_refuses_a_weak_password(app: FastAPI, settings: UsersSettings) -> None:
    result = run_cli(settings, "create-staff", "--email", "boss@example.com", "--password", "123")
    assert result.returncode != 0
    assert "at least 8" in result.stderr


def test_generate_keys_writes_once(tmp_path: Path, settings: UsersSettings) -> None:
    key = tmp_path / "k" / "jwt.pem"
    env = {**os.environ, "USERS_JWT_PRIVATE_KEY_FILE": str(key)}
    first = subprocess.run(
        [sys.executable, "-m", "users.cli", "generate-keys"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" in first.stdout
    assert key.stat().st_mode & 0o777 == 0o600
    content = key.read_text()
    second = subprocess.run(
        [sys.executable, "-m", "users.cli", "generate-keys"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kept" in second.stdout
    assert key.read_text() == content
