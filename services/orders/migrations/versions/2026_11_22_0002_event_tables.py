"""Event backbone tables: the outbox (with its NOTIFY trigger) and the inbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from shared.events.inbox import create_inbox_table, drop_inbox_table
from shared.events.outbox import create_outbox_table, drop_outbox_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "orders"


def upgrade() -> None:
    create_outbox_table(SCHEMA)
    create_inbox_table(SCHEMA)


def downgrade() -> None:
    drop_inbox_table(SCHEMA)
    drop_outbox_table(SCHEMA)
