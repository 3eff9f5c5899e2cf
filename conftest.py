"""Session-wide fixtures: one throwaway PostgreSQL database per test run (every service's
migrations applied to it) and a Redis database for tests."""

from __future__ import annotations

import asyncio
import fcntl
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from shared.dbadmin import service_url
from shared.testing import bearer, create_database, destroy_database, new_database_name

_lock_key = pytest.StashKey[Any]()


def _test_redis_url() -> str:
    # Database 15 keeps test keys away from a local stack running on database 0.
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _run_lock() -> Path:
    """One lock per Redis server: runs against the same server share its databases."""
    address = urlsplit(_test_redis_url()).netloc.replace(":", "-") or "default"
    return Path(tempfile.gettempdir()) / f"highload-shop-tests-{address}.lock"


def pytest_configure(config: pytest.Config) -> None:
    """One test run per Redis server at a time: runs share its databases, and one run's
    FLUSHDB would delete another's streams. A second run waits here for the first."""
    lock = _run_lock()
    handle = lock.open("w")
    deadline = time.monotonic() + float(os.environ.get("TEST_LOCK_TIMEOUT_SECONDS", "1800"))
    waiting = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.exit(
                    f"another test run has held {lock} too long; stop it, or point this run"
                    " at another Redis server with TEST_REDIS_URL",
                    returncode=3,
                )
            if not waiting:
                print(f"waiting for another test run to finish ({lock})", flush=True)
                waiting = True
            time.sleep(1)
    config.stash[_lock_key] = handle  # held until this process exits


@pytest.fixture(scope="session")
def test_database() -> Iterator[str]:
    name = new_database_name()
    try:
        create_database(name)
        yield name
    finally:
        destroy_database(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _test_redis_url()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Single settings a test changes in its service's `settings` (shared.testing's
    `service_fixtures`): override this fixture, or update the dict before `app` starts."""
    return {}


@pytest.fixture(scope="session")
def jwt_private_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from users.keys import generate_private_key

    path = tmp_path_factory.mktemp("keys") / "jwt-private.pem"
    generate_private_key(path)
    return path


@pytest.fixture(scope="session")
def mint_token(jwt_private_key_file: Path) -> Callable[..., str]:
    """Access tokens signed with the test key, exactly as the users service signs them."""
    from users.domain.tokens import issue_access_token
    from users.keys import load_signing_keys
    from users.settings import UsersSettings

    settings = UsersSettings(jwt_private_key_file=jwt_private_key_file)
    keys = load_signing_keys(settings)

    def mint(user_id: int, *, staff: bool = False) -> str:
        return issue_access_token(
            user_id=user_id,
            is_staff=staff,
            keys=keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            now=datetime.now(UTC),
            ttl=timedelta(minutes=15),
        )

    return mint


@pytest.fixture
async def users_jwks_client(
    test_database: str, redis_url: str, jwt_private_key_file: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to a real, in-process users service: other services fetch
    its JWKS through it, as they fetch it over the network in production."""
    from users.main import create_app
    from users.settings import UsersSettings

    app = create_app(
        UsersSettings(
            environment="test",
            database_url=service_url("users", database=test_database),
            redis_url=redis_url,
            jwt_private_key_file=jwt_private_key_file,
            log_json=False,
        )
    )

    async def in_own_context(scope: Any, receive: Any, send: Any) -> None:
        # A task runs in a copy of the context: the users app's request id must not leak
        # into the calling service's request, as it cannot across real processes.
        await asyncio.create_task(app(scope, receive, send))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=in_own_context)
        async with httpx.AsyncClient(transport=transport, base_url="http://users") as client:
            yield client


# Every service's tests drive its real app (the `app` fixture of the service's conftest)
# and act as these users, with tokens the users service would issue.
STAFF_ID, ALICE_ID, BOB_ID = 1, 2, 3


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def staff(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(STAFF_ID, staff=True))


@pytest.fixture
def alice(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(ALICE_ID))


@pytest.fixture
def bob(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(BOB_ID))
