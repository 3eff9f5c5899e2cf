"""Maintained report tables: sales per product and spending per customer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"


def upgrade() -> None:
    op.create_table(
        "product_sales",
        sa.Column("product_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_sales")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_product_sales_units",
        "product_sales",
        [sa.literal_column("units DESC"), "product_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "customer_stats",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("orders_count", sa.BigInteger(), nullable=False),
        sa.Column("total_spent", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_customer_stats")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_customer_stats_spent",
        "customer_stats",
        [sa.literal_column("total_spent DESC"), "user_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("customer_stats", schema=SCHEMA)
    op.drop_table("product_sales", schema=SCHEMA)
