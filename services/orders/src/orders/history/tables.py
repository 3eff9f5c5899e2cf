"""Tables of the `order_history` schema (owned by the orders role, outside its
search_path): the Postgres store, the event archive, and the projector's inbox.

Their own metadata: the orders Alembic environment compares only the `orders` schema,
and migration 0003 creates these by hand.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Numeric,
    String,
    Table,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import service_metadata
from shared.events.inbox import inbox_table

SCHEMA = "order_history"
metadata = service_metadata(SCHEMA)

# One row per order: the cells of a Cassandra row, each group with the version
# (event time, event id) of the event that wrote it, so the newest event wins per group.
orders_by_user = Table(
    "orders_by_user",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    # Placement (orders.OrderPlaced): until it is folded the order is not listed.
    Column("placed_at", DateTime(timezone=True)),
    Column("lines", JSONB),
    # Order cells (every orders event).
    Column("status", String(32)),
    Column("total", Numeric(12, 2)),
    Column("currency", String(3)),
    Column("order_at", DateTime(timezone=True)),
    Column("order_event_id", Uuid),
    # Payment cells (every payments event).
    Column("payment_outcome", String(16)),
    Column("payment_method", String(64)),
    Column("card_brand", String(64)),
    Column("card_last4", String(8)),
    Column("payment_at", DateTime(timezone=True)),
    Column("payment_event_id", Uuid),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    # The user's list, newest first, walked by keyset (scanned backwards).
    Index(
        "ix_order_history_orders_by_user_list",
        "user_id",
        "placed_at",
        "order_id",
        postgresql_where=text("placed_at IS NOT NULL"),
    ),
)

order_timeline = Table(
    "order_timeline",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("status", String(32)),
    Column("detail", JSONB, nullable=False),
)

# Every event the projector folded, whole, for as long as the shop exists: the source
# of `make history-rebuild` (streams and the outbox archive are trimmed after days).
event_archive = Table(
    "event_archive",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("type", String(200), nullable=False),
    Column("producer", String(100), nullable=False),
    Column("aggregate_id", String(200), nullable=False),
    Column("envelope", JSONB, nullable=False),
    Column("archived_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
    Index("ix_order_history_event_archive_replay", "occurred_at", "event_id"),
    Index("ix_order_history_event_archive_producer", "producer", "occurred_at"),
)

# Dedupe rows of consumer group "history" (the fold is idempotent anyway; the inbox
# spares the writes of a redelivered batch).
inbox = inbox_table(metadata)
