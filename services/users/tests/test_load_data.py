"""`make load-data`: python -m users.cli load-customers, run as a real process."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from users.db.tables import User, outbox
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
        timeout=120,
        check=False,
    )


async def test_load_customers_creates_logins_that_work_and_announces_them(
    app: FastAPI, client: httpx.AsyncClient, settings: UsersSettings, tmp_path: Path
) -> None:
    out = tmp_path / "users.csv"
    first = run_cli(settings, "load-customers", "--count", "1203", "--csv", str(out))
    assert first.returncode == 0, first.stderr
    assert "1203 new customers" in first.stdout
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1203
    assert len({row["email"] for row in rows}) == 1203
    # Two customers picked from different batches log in with the CSV's password.
    for row in (rows[0], rows[-1]):
        response = await client.post("/api/auth/login/", json=row)
        assert response.status_code == 200, response.text
    async with app.state.engine.connect() as conn:
        hashes = (await conn.execute(select(func.count(func.distinct(User.password_hash))))).one()
        events = (
            await conn.execute(
                select(func.count()).where(outbox.table.c.type == "users.UserRegistered")
            )
        ).scalar_one()
    assert hashes == (1,)  # one bcrypt hash, computed once
    assert events == 1203

    again = run_cli(settings, "load-customers", "--count", "1205", "--csv", str(out))
    assert again.returncode == 0, again.stderr
    assert "2 new customers (1203 existed)" in again.stdout


def test_load_customers_refuses_a_bad_count(settings: UsersSettings) -> None:
    result = run_cli(settings, "load-customers", "--count", "0")
    assert result.returncode != 0
    assert "--count must be" in result.stderr
