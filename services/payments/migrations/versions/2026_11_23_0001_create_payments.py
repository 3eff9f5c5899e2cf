"""Payments, idempotency keys, the order replica, the simulated provider's records, and
the event backbone's tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.events.inbox import create_inbox_table, drop_inbox_table
from shared.events.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "payments"


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("total_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
        schema=SCHEMA,
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("source_token", sa.String(100), nullable=False),
        sa.Column("card_brand", sa.String(20), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_exp_month", sa.SmallInteger(), nullable=True),
        sa.Column("card_exp_year", sa.SmallInteger(), nullable=True),
        sa.Column("provider_key", sa.Uuid(), nullable=False),
        sa.Column("charge_id", sa.String(100), nullable=True),
        sa.Column("failure_reason", sa.String(50), nullable=True),
        sa.Column("refund_id", sa.String(100), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'refunded')",
            name=op.f("ck_payments_status_known"),
        ),
        sa.CheckConstraint(
            "method IN ('card', 'paypal', 'bank_transfer')", name=op.f("ck_payments_method_known")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider_key", name=op.f("uq_payments_provider_key")),
        schema=SCHEMA,
    )
    op.create_index(
        "uq_payments_active_order",
        "payments",
        ["order_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('pending', 'succeeded')"),
    )
    op.create_index("ix_payments_user", "payments", ["user_id", "id"], schema=SCHEMA)
    op.create_index("ix_payments_order", "payments", ["order_id", "id"], schema=SCHEMA)
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_status", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_idempotency_keys_created", "idempotency_keys", ["created_at"], schema=SCHEMA
    )
    op.create_table(
        "provider_charges",
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("charge_reference", sa.String(100), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("decline_code", sa.String(50), nullable=True),
        sa.Column("requests", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('charge', 'refund')", name=op.f("ck_provider_charges_kind_known")
        ),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_provider_charges")),
        sa.UniqueConstraint("reference", name=op.f("uq_provider_charges_reference")),
        schema=SCHEMA,
    )
    create_outbox_table(SCHEMA)
    create_inbox_table(SCHEMA)


def downgrade() -> None:
    drop_inbox_table(SCHEMA)
    drop_outbox_table(SCHEMA)
    op.drop_table("provider_charges", schema=SCHEMA)
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys", schema=SCHEMA)
    op.drop_table("idempotency_keys", schema=SCHEMA)
    op.drop_index("ix_payments_order", table_name="payments", schema=SCHEMA)
    op.drop_index("ix_payments_user", table_name="payments", schema=SCHEMA)
    op.drop_index("uq_payments_active_order", table_name="payments", schema=SCHEMA)
    op.drop_table("payments", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
