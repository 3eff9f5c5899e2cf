"""A status change NOTIFYs the long polls from a trigger, not from a statement of its own.

`pg_notify('orders_status', '<order id>')` was a third round trip of every status change
(the UPDATE, the outbox row, the NOTIFY). The row trigger sends the same notification in
the same transaction, so it still arrives exactly when the change commits, and not at all
if it rolls back; and any writer of `status` wakes the waiting readers, not only
`change_status`. An order inserted already placed notifies nobody: no one can be waiting
for it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel of `orders.db.orders.STATUS_CHANNEL`, written out: a migration stays as it was.
_FUNCTION = """
CREATE FUNCTION orders.order_status_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orders_status', NEW.id::text);
    RETURN NULL;
END $$
"""
_TRIGGER = """
CREATE TRIGGER order_status_notify AFTER UPDATE OF status ON orders.orders
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION orders.order_status_notify()
"""


def upgrade() -> None:
    # Two statements: asyncpg prepares each, and a prepared statement holds one command.
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER order_status_notify ON orders.orders")
    op.execute("DROP FUNCTION orders.order_status_notify()")
