"""Alembic environment shared by every service: one schema, its own version table."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _run(connection: Connection, metadata: MetaData, schema: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        # Compare only the service's own schema; other schemas belong to other services.
        include_schemas=True,
        include_name=lambda name, type_, _: type_ != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, metadata: MetaData, schema: str) -> None:
    # Every object is schema-qualified; an empty search_path keeps autogenerate from
    # mistaking the service's schema for the default one.
    engine = create_async_engine(
        url,
        poolclass=pool.NullPool,
        connect_args={"server_settings": {"search_path": "pg_catalog"}},
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run, metadata, schema)
    await engine.dispose()


def run_migrations(*, metadata: MetaData, schema: str, default_url: str) -> None:
    """Entry point for a service's `migrations/env.py`.

    The URL comes from `-x database_url=...`, then the Alembic config's attributes (tests),
    then the service's settings: migrations run as the service's own role, which owns
    its schema and nothing else.
    """
    config = context.config
    url = (
        context.get_x_argument(as_dictionary=True).get("database_url")
        or config.attributes.get("database_url")
        or default_url
    )
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadata,
            version_table_schema=schema,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, metadata, schema))
