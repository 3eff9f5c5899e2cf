"""Order-history projection: the Postgres store, the event archive, the projector's inbox,
all in schema `order_history` (written by hand: autogenerate compares `orders` only).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.events.inbox import create_inbox_table, drop_inbox_table

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "order_history"


def upgrade() -> None:
    op.create_table(
        "orders_by_user",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lines", postgresql.JSONB(), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("total", sa.Numeric(12, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_event_id", sa.Uuid(), nullable=True),
        sa.Column("payment_outcome", sa.String(16), nullable=True),
        sa.Column("payment_method", sa.String(64), nullable=True),
        sa.Column("card_brand", sa.String(64), nullable=True),
        sa.Column("card_last4", sa.String(8), nullable=True),
        sa.Column("payment_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_event_id", sa.Uuid(), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders_by_user"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_order_history_orders_by_user_list",
        "orders_by_user",
        ["user_id", "placed_at", "order_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("placed_at IS NOT NULL"),
    )
    op.create_table(
        "order_timeline",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "occurred_at", "event_id", name="pk_order_timeline"),
        schema=SCHEMA,
    )
    op.create_table(
        "event_archive",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("producer", sa.String(100), nullable=False),
        sa.Column("aggregate_id", sa.String(200), nullable=False),
        sa.Column("envelope", postgresql.JSONB(), nullable=False),
        sa.Column(
            "archived_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_event_archive"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_order_history_event_archive_replay",
        "event_archive",
        ["occurred_at", "event_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_order_history_event_archive_producer",
        "event_archive",
        ["producer", "occurred_at"],
        schema=SCHEMA,
    )
    create_inbox_table(SCHEMA)


def downgrade() -> None:
    drop_inbox_table(SCHEMA)
    op.drop_table("event_archive", schema=SCHEMA)
    op.drop_table("order_timeline", schema=SCHEMA)
    op.drop_table("orders_by_user", schema=SCHEMA)
