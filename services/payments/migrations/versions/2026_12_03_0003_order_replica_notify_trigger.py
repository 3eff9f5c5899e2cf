"""A change of the order replica NOTIFYs the payments waiting for it.

A payment can arrive before payments' replica of its order has caught up (the buyer saw
`awaiting_payment` at the orders service first). The request waits, woken by
`pg_notify('payments_orders', '<order id>')` from these row triggers when a replica row is
inserted or its status changes, so it reads the row again only when it changed, and
exactly when the change committed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel of `payments.db.orders.REPLICA_CHANNEL`, written out: a migration stays as it was.
_FUNCTION = """
CREATE FUNCTION payments.order_replica_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('payments_orders', NEW.order_id::text);
    RETURN NULL;
END $$
"""
# An upsert that finds the row fires the UPDATE trigger only (and none if its WHERE
# keeps a newer version).
_INSERTED = """
CREATE TRIGGER order_replica_inserted AFTER INSERT ON payments.orders
FOR EACH ROW EXECUTE FUNCTION payments.order_replica_notify()
"""
_STATUS_CHANGED = """
CREATE TRIGGER order_replica_status_changed AFTER UPDATE OF status ON payments.orders
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION payments.order_replica_notify()
"""


def upgrade() -> None:
    # One statement each: asyncpg prepares each, and a prepared statement holds one command.
    op.execute(_FUNCTION)
    op.execute(_INSERTED)
    op.execute(_STATUS_CHANGED)


def downgrade() -> None:
    op.execute("DROP TRIGGER order_replica_status_changed ON payments.orders")
    op.execute("DROP TRIGGER order_replica_inserted ON payments.orders")
    op.execute("DROP FUNCTION payments.order_replica_notify()")
