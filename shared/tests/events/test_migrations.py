"""The Alembic helpers create the same outbox and inbox as the table factories."""

from __future__ import annotations

import secrets

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.inbox import create_inbox_table, drop_inbox_table
from shared.events.outbox import create_outbox_table, drop_outbox_table


async def test_migration_helpers_create_tables_and_the_notify_trigger(engine: AsyncEngine) -> None:
    schema = f"events_test_{secrets.token_hex(4)}"

    def migrate(connection: Connection, *steps: object) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            for step in steps:
                step(schema)  # type: ignore[operator]

    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate, create_outbox_table, create_inbox_table)
        async with engine.connect() as conn:
            tables = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"),
                {"s": schema},
            )
            assert list(tables.scalars()) == ["inbox", "outbox"]
            triggers = await conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s"
                    " AND NOT t.tgisinternal"
                ),
                {"s": schema},
            )
            assert list(triggers.scalars()) == ["outbox_notify"]
        async with engine.begin() as conn:
            await conn.run_sync(migrate, drop_inbox_table, drop_outbox_table)
        async with engine.connect() as conn:
            left = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :s"
                ),
                {"s": schema},
            )
            assert left.scalar_one() == 0
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
