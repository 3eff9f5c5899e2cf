"""The engines of shared.db: errors never carry bound values, request-path statements
are cancelled after their timeout, and a cancelled statement is a 503 problem."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import create_engine, prefill_pool
from shared.dbadmin import service_url
from shared.settings import ServiceSettings


def _settings(database: str) -> ServiceSettings:
    return ServiceSettings(
        environment="test", database_url=SecretStr(service_url("users", database=database))
    )


async def test_errors_do_not_show_bound_values(test_database: str) -> None:
    engine = create_engine(_settings(test_database), application_name="test")
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect() as conn:
                # A failure whose own message holds no value: SQLAlchemy would add them.
                await conn.execute(
                    text("SELECT 1 / 0 WHERE CAST(:v AS text) IS NOT NULL"),
                    {"v": "alice@example.com"},
                )
    finally:
        await engine.dispose()
    assert "alice@example.com" not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)


async def test_a_statement_past_its_timeout_is_cancelled(test_database: str) -> None:
    engine = create_engine(
        _settings(test_database), application_name="test", statement_timeout_ms=50
    )
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(5)"))
    finally:
        await engine.dispose()
    assert getattr(raised.value.orig, "sqlstate", None) == "57014"


async def test_prefill_opens_the_whole_pool_and_keeps_it(test_database: str) -> None:
    engine = create_engine(_settings(test_database), application_name="test", pool_size=3)
    try:
        await prefill_pool(engine, 3)
        assert (engine.pool.checkedin(), engine.pool.checkedout()) == (3, 0)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_prefill_stops_at_the_first_refused_connection() -> None:
    refusing = ServiceSettings(
        environment="test",
        database_url=SecretStr("postgresql+asyncpg://nobody:x@127.0.0.1:1/none"),
    )
    engine = create_engine(refusing, application_name="test", pool_size=3)
    try:
        await prefill_pool(engine, 3)  # logs, does not raise: the pool grows on demand
        assert engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
