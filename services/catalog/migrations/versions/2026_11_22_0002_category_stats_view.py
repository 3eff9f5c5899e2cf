"""Category statistics as a materialized view, refreshed in the background.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE MATERIALIZED VIEW catalog.category_stats AS
        SELECT category_id,
               count(*) AS product_count,
               sum(stock_quantity)::bigint AS total_stock,
               avg(price) AS average_price,
               now() AS refreshed_at
          FROM catalog.products
         WHERE deleted_at IS NULL
         GROUP BY category_id
        """
    )
    # Unique, so the view can be refreshed CONCURRENTLY (readers are never blocked).
    op.execute(
        "CREATE UNIQUE INDEX uq_category_stats_category_id ON catalog.category_stats (category_id)"
    )


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW catalog.category_stats")
