"""Database bootstrap: one database, and per service one schema owned by one role.

A service's role can log in, owns its schema, and has no privilege anywhere else, so a
query of one service against another's tables fails with "permission denied". This is
the only code that runs as a PostgreSQL superuser; migrations run as the service roles.

    python -m shared.dbadmin bootstrap users orders:order_history ...   # idempotent

Which services have a database, and which further schemas their roles own, is the
registry's (deploy/services.toml): `make migrate` and compose's db-bootstrap pass its
`python -m deploy.registry databases` here, so a service image needs no registry file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence

import asyncpg

from shared.settings import DEFAULT_SECRET

# service -> further schemas its role owns, outside its search_path (the order-history
# projection keeps its tables apart from the orders service's own).
Schemas = Mapping[str, Sequence[str]]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def role_name(service: str) -> str:
    return f"shop_{service}"


def role_password(service: str) -> str:
    return os.environ.get(f"SHOP_DB_PASSWORD_{service.upper()}", DEFAULT_SECRET)


def admin_url() -> str:
    return os.environ.get("SHOP_DB_ADMIN_URL", DEFAULT_ADMIN_URL)


def service_url(service: str, *, database: str, host: str = "127.0.0.1", port: int = 5432) -> str:
    return (
        f"postgresql+asyncpg://{role_name(service)}:{role_password(service)}"
        f"@{host}:{port}/{database}"
    )


async def _ensure_role(conn: asyncpg.Connection, service: str) -> None:
    role = role_name(service)
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if not exists:
        statement = await conn.fetchval("SELECT format('CREATE ROLE %I', $1::text)", role)
        # Another bootstrap (a parallel test run) may create it first.
        with contextlib.suppress(asyncpg.DuplicateObjectError):
            await conn.execute(statement)
    statement = await conn.fetchval(
        "SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',"
        " $1::text, $2::text)",
        role,
        role_password(service),
    )
    await conn.execute(statement)


def parse_schemas(arguments: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """`users orders:order_history` -> {"users": (), "orders": ("order_history",)}."""
    out: dict[str, tuple[str, ...]] = {}
    for argument in arguments:
        service, _, extra = argument.partition(":")
        out[service] = tuple(s for s in extra.split(",") if s)
    return out


async def bootstrap(database: str, services: Schemas | None = None) -> None:
    """Create the database, roles and schemas if missing, and (re)apply their grants.

    `services` defaults to the registry's (deploy/services.toml, in a checkout of the
    repository); an image without it passes them, as the command line does."""
    if services is None:
        from deploy import registry

        services = registry.databases(registry.load())
    admin = await asyncpg.connect(admin_url())
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            quoted = await admin.fetchval("SELECT quote_ident($1::text)", database)
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await admin.execute(f"CREATE DATABASE {quoted}")
        for service in services:
            await _ensure_role(admin, service)
    finally:
        await admin.close()

    target = await asyncpg.connect(admin_url(), database=database)
    try:
        db = await target.fetchval("SELECT quote_ident($1::text)", database)
        await target.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
        await target.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        for service in services:
            role = await target.fetchval("SELECT quote_ident($1::text)", role_name(service))
            schema = await target.fetchval("SELECT quote_ident($1::text)", service)
            await target.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {role}")
            await target.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
            await target.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
            await target.execute(f"ALTER ROLE {role} IN DATABASE {db} SET search_path = {schema}")
            for extra in services[service]:
                quoted = await target.fetchval("SELECT quote_ident($1::text)", extra)
                await target.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted} AUTHORIZATION {role}")
                await target.execute(f"ALTER SCHEMA {quoted} OWNER TO {role}")
        await _slow_query_statistics(target)
    finally:
        await target.close()


async def _slow_query_statistics(conn: asyncpg.Connection) -> None:
    """pg_stat_statements in the shop's database (docs/operations.md). Its numbers are
    collected only where the server preloads the library (compose does; a shared server
    needs `shared_preload_libraries` and a restart, which the bootstrap never does)."""
    with contextlib.suppress(asyncpg.PostgresError):
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


async def drop_database(database: str) -> None:
    admin = await asyncpg.connect(admin_url())
    try:
        quoted = await admin.fetchval("SELECT quote_ident($1::text)", database)
        await admin.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.dbadmin", description=__doc__)
    parser.add_argument("command", choices=["bootstrap"])
    parser.add_argument(
        "services",
        nargs="+",
        metavar="SERVICE[:SCHEMA,...]",
        help="python -m deploy.registry databases",
    )
    parser.add_argument("--database", default=os.environ.get("SHOP_DB_NAME", "shop"))
    args = parser.parse_args()
    services = parse_schemas(args.services)
    asyncio.run(bootstrap(args.database, services))
    print(f"database {args.database!r}: schemas and roles for {', '.join(services)} are in place")


if __name__ == "__main__":
    main()
