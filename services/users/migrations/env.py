"""Alembic environment of the users schema."""

from shared.migrations import run_migrations
from users.db.tables import SCHEMA, Base
from users.settings import UsersSettings

run_migrations(
    metadata=Base.metadata,
    schema=SCHEMA,
    default_url=UsersSettings().database_url.get_secret_value(),
)
