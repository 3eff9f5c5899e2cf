"""PostgreSQL isolation: the users role owns its schema and can touch nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.dbadmin import role_name, role_password


async def connect_as(service: str, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        user=role_name(service),
        password=role_password(service),
        database=database,
    )


@pytest.fixture
async def catalog_table(test_database: str) -> AsyncIterator[str]:
    conn = await connect_as("catalog", test_database)
    await conn.execute("CREATE TABLE catalog.isolation_probe (secret text)")
    await conn.execute("INSERT INTO catalog.isolation_probe VALUES ('catalog only')")
    try:
        yield "catalog.isolation_probe"
    finally:
        await conn.execute("DROP TABLE catalog.isolation_probe")
        await conn.close()


async def test_users_role_cannot_read_another_schema(
    test_database: str, catalog_table: str
) -> None:
    conn = await connect_as("users", test_database)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {catalog_table}")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE catalog.intruder (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.intruder (x int)")
    finally:
        await conn.close()


async def test_users_role_works_in_its_own_schema(test_database: str) -> None:
    conn = await connect_as("users", test_database)
    try:
        assert await conn.fetchval("SHOW search_path") == "users"
        assert await conn.fetchval("SELECT count(*) FROM users.users") == 0
        owner = await conn.fetchval(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'users' AND tablename = 'users'"
        )
        assert owner == "shop_users"
        version = await conn.fetchval("SELECT version_num FROM users.alembic_version")
        assert version
    finally:
        await conn.close()
