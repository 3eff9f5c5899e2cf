"""Alembic environment of the catalog schema."""

from catalog.db.tables import SCHEMA, Base
from catalog.settings import CatalogSettings
from shared.migrations import run_migrations

run_migrations(
    metadata=Base.metadata,
    schema=SCHEMA,
    default_url=CatalogSettings().database_url.get_secret_value(),
)
