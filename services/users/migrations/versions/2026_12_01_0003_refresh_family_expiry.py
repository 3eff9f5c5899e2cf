"""Refresh-token families end at a fixed time after the login, however often rotated.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "users"


def upgrade() -> None:
    op.add_column(
        "refresh_tokens",
        sa.Column("family_expires_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    # Existing logins get the default absolute lifetime (90 days) from their first token.
    op.execute(
        "UPDATE users.refresh_tokens AS t SET family_expires_at = f.started + interval '90 days'"
        " FROM (SELECT family_id, min(created_at) AS started FROM users.refresh_tokens"
        " GROUP BY family_id) AS f WHERE f.family_id = t.family_id"
    )
    op.alter_column("refresh_tokens", "family_expires_at", nullable=False, schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("refresh_tokens", "family_expires_at", schema=SCHEMA)
