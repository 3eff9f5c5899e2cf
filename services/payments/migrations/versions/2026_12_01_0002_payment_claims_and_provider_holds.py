"""The durable claim of a payment being charged, and the simulated provider's test holds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "payments"


def upgrade() -> None:
    op.add_column("payments", sa.Column("claimed_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.create_table(
        "provider_holds",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("released", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("calls", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_provider_holds")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("provider_holds", schema=SCHEMA)
    op.drop_column("payments", "claimed_at", schema=SCHEMA)
