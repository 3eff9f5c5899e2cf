"""Idempotency keys store the answer they got (status and body), as payments' do
(`shared.idempotency`), instead of the id of the order they created.

Keys recorded before this revision get the answer their order renders now, which is what
a replay of them answered until now; their fingerprints (SHA-256 of the body) stay valid.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"
TABLE = "order_idempotency_keys"

# OrderOut as the API renders it (timestamps in UTC).
_BACKFILL = """
UPDATE orders.order_idempotency_keys AS k
SET response_status = 201,
    response_body = jsonb_build_object(
        'id', o.id,
        'user_id', o.user_id,
        'status', o.status,
        'total_amount', o.total_amount::text,
        'currency', o.currency,
        'cancel_reason', o.cancel_reason,
        'expires_at', to_jsonb(o.expires_at AT TIME ZONE 'UTC') #>> '{}' || 'Z',
        'items', COALESCE(
            (SELECT jsonb_agg(jsonb_build_object(
                        'id', i.id,
                        'order_id', i.order_id,
                        'product_id', i.product_id,
                        'name', i.name,
                        'quantity', i.quantity,
                        'unit_price', i.unit_price::text,
                        'line_total', i.line_total::text
                    ) ORDER BY i.id)
             FROM orders.order_items AS i WHERE i.order_id = o.id),
            '[]'::jsonb),
        'created_at', to_jsonb(o.created_at AT TIME ZONE 'UTC') #>> '{}' || 'Z',
        'updated_at', to_jsonb(o.updated_at AT TIME ZONE 'UTC') #>> '{}' || 'Z'
    )
FROM orders.orders AS o
WHERE o.id = k.order_id
"""


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("response_status", sa.SmallInteger()), schema=SCHEMA)
    op.add_column(
        TABLE, sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text())), schema=SCHEMA
    )
    op.execute(_BACKFILL)
    # A key without an order was claimed by a request that never committed: none exist.
    op.execute("DELETE FROM orders.order_idempotency_keys WHERE response_status IS NULL")
    op.alter_column(TABLE, "response_status", nullable=False, schema=SCHEMA)
    op.alter_column(TABLE, "response_body", nullable=False, schema=SCHEMA)
    op.drop_constraint(
        "fk_order_idempotency_keys_order_id_orders", TABLE, type_="foreignkey", schema=SCHEMA
    )
    op.drop_column(TABLE, "order_id", schema=SCHEMA)


def downgrade() -> None:
    op.add_column(TABLE, sa.Column("order_id", sa.BigInteger()), schema=SCHEMA)
    # Every answer stored is an order (created or placed); refusals are never stored.
    op.execute("UPDATE orders.order_idempotency_keys SET order_id = (response_body->>'id')::bigint")
    op.create_foreign_key(
        "fk_order_idempotency_keys_order_id_orders",
        TABLE,
        "orders",
        ["order_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
        ondelete="CASCADE",
    )
    op.drop_column(TABLE, "response_body", schema=SCHEMA)
    op.drop_column(TABLE, "response_status", schema=SCHEMA)
