"""The inbox: one row per (consumer group, event) handled, written in the handler's
transaction, so a redelivered event finds its row and has no second effect."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from uuid import UUID

from alembic import op
from sqlalchemy import (
    ARRAY,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from shared.db import service_metadata

TABLE_NAME = "inbox"


def inbox_table(metadata: MetaData) -> Table:
    """Add the `inbox` table to a consuming service's metadata."""
    if not metadata.schema:
        raise ValueError("the inbox lives in the service's schema; use service_metadata()")
    return Table(
        TABLE_NAME,
        metadata,
        Column("consumer_group", String(100), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("handled_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        Index(f"ix_{metadata.schema}_inbox_handled_at", "handled_at"),
    )


def create_inbox_table(schema: str) -> None:
    """Alembic `upgrade()` helper: create the schema's inbox."""
    inbox_table(service_metadata(schema)).create(op.get_bind())


def drop_inbox_table(schema: str) -> None:
    """Alembic `downgrade()` helper."""
    inbox_table(service_metadata(schema)).drop(op.get_bind())


async def record_first_deliveries(
    session: AsyncSession, inbox: Table, *, group: str, event_ids: Iterable[UUID]
) -> set[UUID]:
    """Insert the dedupe rows; returns the events this group had not handled before.

    A concurrent delivery of the same event (a reclaimed entry whose first consumer is
    slow, not dead) waits here on the unique key and then finds the row.
    """
    ids = list(event_ids)
    if not ids:
        return set()
    params = {"consumer_group": group, "event_ids": ids}
    return set((await session.execute(_insert_rows(inbox), params)).scalars())


@functools.cache
def _insert_rows(inbox: Table) -> Executable:
    """One statement for a batch of any size, built once per inbox: the ids go as one
    array (`unnest`), so neither SQLAlchemy nor PostgreSQL prepares a statement per
    batch size, and nothing is built per delivery."""
    rows = select(
        bindparam("consumer_group", type_=String),
        func.unnest(bindparam("event_ids", type_=ARRAY(Uuid))),
    )
    return (
        insert(inbox)
        .from_select(["consumer_group", "event_id"], rows)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
