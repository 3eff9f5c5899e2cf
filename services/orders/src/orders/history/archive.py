"""The event archive: every folded event, appended in the fold's transaction, replayed
by the rebuild in (occurred_at, event_id) order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from orders.history.projector import parse
from orders.history.tables import event_archive
from shared.events.envelope import Envelope


def row(event: Envelope[Any]) -> dict[str, Any]:
    """The archive row of an event."""
    return {
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "type": event.type,
        "producer": event.producer,
        "aggregate_id": event.aggregate_id,
        # The payload models keep undeclared fields, so this is the whole event.
        "envelope": event.model_dump(mode="json"),
    }


async def append(session: AsyncSession, events: list[Envelope[Any]]) -> None:
    """Archive the events (a repeat is a no-op: the event id is the key)."""
    if not events:
        return
    rows = [row(event) for event in events]
    await session.execute(insert(event_archive).values(rows).on_conflict_do_nothing())


async def replay(
    engine: AsyncEngine, *, batch_size: int = 1000
) -> AsyncIterator[list[Envelope[Any]]]:
    """The archive in (occurred_at, event_id) order, in batches (keyset, so rows
    archived during the walk behind its position are not revisited; the worker folded them)."""
    key: tuple[datetime, UUID] | None = None
    while True:
        stmt = select(
            event_archive.c.event_id,
            event_archive.c.occurred_at,
            event_archive.c.type,
            event_archive.c.envelope,
        )
        if key is not None:
            stmt = stmt.where(tuple_(event_archive.c.occurred_at, event_archive.c.event_id) > key)
        stmt = stmt.order_by(event_archive.c.occurred_at, event_archive.c.event_id).limit(
            batch_size
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return
        key = (rows[-1].occurred_at, rows[-1].event_id)
        events = [parse(row.type, row.envelope) for row in rows]
        yield [event for event in events if event is not None]


async def newest_applied(conn: AsyncConnection, producer: str) -> datetime | None:
    """When the newest archived (so folded) event of a producer happened."""
    stmt = select(func.max(event_archive.c.occurred_at)).where(event_archive.c.producer == producer)
    value: datetime | None = (await conn.execute(stmt)).scalar_one()
    return value


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        value: int = (
            await conn.execute(select(func.count()).select_from(event_archive))
        ).scalar_one()
    return value
