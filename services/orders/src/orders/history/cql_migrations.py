"""Versioned CQL migrations: `cql/NNNN_name.cql`, applied in order, recorded in
`<keyspace>.schema_migrations`. Run by the projector (and the CLIs) at start, never by
the web app: concurrent DDL from many replicas can leave Cassandra's schema disagreeing."""

# ruff: noqa: S608  (the keyspace is validated by the settings; the rest are constants)
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from orders.history.settings import CassandraSettings

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cql$")
Execute = Callable[[str], Awaitable[list[Any]]]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _statements(cql: str, keyspace: str) -> tuple[str, ...]:
    lines = [line for line in cql.splitlines() if not line.lstrip().startswith("--")]
    # The files hold DDL only, without string literals, so ';' always ends a statement.
    parts = "\n".join(lines).replace("{keyspace}", keyspace).split(";")
    return tuple(part.strip() for part in parts if part.strip())


def load(keyspace: str) -> list[Migration]:
    """The migrations shipped in `orders/history/cql/`, oldest first."""
    migrations = []
    for entry in resources.files("orders.history").joinpath("cql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            migrations.append(
                Migration(
                    version=int(match.group(1)),
                    name=match.group(2),
                    statements=_statements(entry.read_text(encoding="utf-8"), keyspace),
                )
            )
    return sorted(migrations, key=lambda m: m.version)


def keyspace_ddl(settings: CassandraSettings) -> str:
    # Names and factors are validated by the settings, so they can be spelled out.
    replication = ", ".join(
        f"'{key}': {value}" if isinstance(value, int) else f"'{key}': '{value}'"
        for key, value in settings.replication().items()
    )
    return (
        f"CREATE KEYSPACE IF NOT EXISTS {settings.keyspace} "
        f"WITH replication = {{{replication}}} AND durable_writes = true"
    )


async def migrate(settings: CassandraSettings, execute: Execute) -> list[int]:
    """Create the keyspace if missing, then apply the migrations not yet recorded."""
    keyspace = settings.keyspace
    await execute(keyspace_ddl(settings))
    await execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations "
        "(version int PRIMARY KEY, name text, applied_at timestamp)"
    )
    applied = {
        row.version for row in await execute(f"SELECT version FROM {keyspace}.schema_migrations")
    }
    done = []
    for migration in load(keyspace):
        if migration.version in applied:
            continue
        for statement in migration.statements:
            await execute(statement)
        await execute(
            f"INSERT INTO {keyspace}.schema_migrations (version, name, applied_at) "
            f"VALUES ({migration.version}, '{migration.name}', toTimestamp(now()))"
        )
        done.append(migration.version)
    return done
