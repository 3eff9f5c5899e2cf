"""Session-wide fixtures: one throwaway PostgreSQL database per test run (every service's
migrations applied to it) and a Redis database for tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.testing import create_database, destroy_database, new_database_name


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
    # Database 15 keeps test keys away from a local stack running on database 0.
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def jwt_private_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from users.keys import generate_private_key

    path = tmp_path_factory.mktemp("keys") / "jwt-private.pem"
    generate_private_key(path)
    return path
