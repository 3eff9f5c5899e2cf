"""The transactional outbox: events are rows written in the caller's transaction.

A statement-level trigger NOTIFYs the relay when the transaction commits, so an idle relay
publishes within milliseconds without polling hard.
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    func,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import service_metadata
from shared.events.envelope import Envelope, EventPayload, new_event

TABLE_NAME = "outbox"


def notify_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel the outbox trigger of a schema signals on."""
    return f"{schema}_outbox"


def _ddl(statement: str) -> DDL:
    return DDL(statement)  # type: ignore[no-untyped-call]


def outbox_table(metadata: MetaData) -> Table:
    """Add the `outbox` table (and its NOTIFY trigger) to a service's metadata."""
    schema = metadata.schema
    if not schema:
        raise ValueError("the outbox lives in the service's schema; use service_metadata()")
    table = Table(
        TABLE_NAME,
        metadata,
        # Publication order; per aggregate this is commit order, since writers of one
        # aggregate serialise on its row lock before they insert here.
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("type", String(200), nullable=False),
        Column("aggregate_id", String(200), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        Column("published_at", DateTime(timezone=True)),
        # Small because it holds only the backlog: the relay's scan and the backlog gauge.
        Index(
            f"ix_{schema}_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")
        ),
        Index(f"ix_{schema}_outbox_published_at", "published_at"),
    )
    function = f'"{schema}".outbox_notify'
    # Two DDL statements: asyncpg prepares each, and a prepared statement holds one command.
    event.listen(
        table,
        "after_create",
        _ddl(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{notify_channel(schema)}', ''); RETURN NULL; END $$"
        ),
    )
    event.listen(
        table,
        "after_create",
        _ddl(
            f'CREATE TRIGGER outbox_notify AFTER INSERT ON "{schema}".{TABLE_NAME} '
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        ),
    )
    event.listen(table, "after_drop", _ddl(f"DROP FUNCTION IF EXISTS {function}()"))
    return table


def create_outbox_table(schema: str) -> None:
    """Alembic `upgrade()` helper: create the schema's outbox, indexes and trigger."""
    outbox_table(service_metadata(schema)).create(op.get_bind())


def drop_outbox_table(schema: str) -> None:
    """Alembic `downgrade()` helper."""
    outbox_table(service_metadata(schema)).drop(op.get_bind())


def outbox_row(envelope: Envelope[Any]) -> dict[str, Any]:
    return {
        "event_id": envelope.event_id,
        "type": envelope.type,
        "aggregate_id": envelope.aggregate_id,
        "envelope": envelope.model_dump(mode="json"),
    }


class Outbox:
    """A service's outbox: `await outbox.publish(session, payload, aggregate_id=...)`."""

    def __init__(self, metadata: MetaData) -> None:
        self.table = outbox_table(metadata)
        self.schema: str = metadata.schema or ""
        # Built once: every event of the shop is inserted by it, and a statement built
        # per call is given a cache key again each time (docs/checkout.md).
        self._insert = insert(self.table)

    async def publish(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        aggregate_id: str | int,
        correlation_id: str | None = None,
    ) -> Envelope[Any]:
        """Record an event in the caller's transaction; it goes out only if that commits."""
        envelope = new_event(payload, aggregate_id=aggregate_id, correlation_id=correlation_id)
        await self.add(session, envelope)
        return envelope

    async def add(self, session: AsyncSession, *envelopes: Envelope[Any]) -> None:
        """Record ready-made envelopes (in this order) in the caller's transaction."""
        if envelopes:
            await session.execute(self._insert, [outbox_row(e) for e in envelopes])
