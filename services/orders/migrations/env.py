"""Alembic environment of the orders schema."""

from orders.db.tables import SCHEMA, Base
from orders.settings import OrdersSettings
from shared.migrations import run_migrations

run_migrations(
    metadata=Base.metadata,
    schema=SCHEMA,
    default_url=OrdersSettings().database_url.get_secret_value(),
)
