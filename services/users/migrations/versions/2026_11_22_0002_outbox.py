"""The outbox (with its NOTIFY trigger): users publishes UserRegistered and UserUpdated.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from shared.events.outbox import create_outbox_table, drop_outbox_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "users"


def upgrade() -> None:
    create_outbox_table(SCHEMA)


def downgrade() -> None:
    drop_outbox_table(SCHEMA)
