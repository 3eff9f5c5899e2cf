"""Alembic environment of the payments schema."""

from payments.db.tables import SCHEMA, Base
from payments.settings import PaymentsSettings
from shared.migrations import run_migrations

run_migrations(
    metadata=Base.metadata,
    schema=SCHEMA,
    default_url=PaymentsSettings().database_url.get_secret_value(),
)
