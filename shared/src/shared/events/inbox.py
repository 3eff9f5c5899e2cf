"""The inbox: one row per (consumer group, event) handled, written in the handler's
transaction, so a redelivered event finds its row and has no second effect."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from alembic import op
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Uuid, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    rows = [{"consumer_group": group, "event_id": event_id} for event_id in event_ids]
    if not rows:
        return set()
    statement = insert(inbox).values(rows).on_conflict_do_nothing().returning(inbox.c.event_id)
    return set((await session.execute(statement)).scalars())
