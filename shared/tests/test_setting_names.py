"""Duration settings end in _seconds, and a variable of an old name is refused, not
silently ignored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from shared.events.settings import EventSettings
from shared.settings import RENAMED_SUFFIXES, ServiceSettings


class NamedSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NAMETEST_")


def test_every_duration_setting_is_in_seconds() -> None:
    names = [*ServiceSettings.model_fields, *EventSettings.model_fields]
    assert [n for n in names if n.endswith(("_s", "_ms"))] == []


def test_a_renamed_variable_is_refused_with_its_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAMETEST_DB_STATEMENT_TIMEOUT_MS", "10000")
    with pytest.raises(ValidationError, match="NAMETEST_DB_STATEMENT_TIMEOUT_SECONDS"):
        NamedSettings()


def test_the_new_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAMETEST_DB_STATEMENT_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("NAMETEST_EVENTS__CLAIM_IDLE_SECONDS", "7")
    settings = NamedSettings()
    assert (settings.db_statement_timeout_seconds, settings.events.claim_idle_seconds) == (2.5, 7)
    assert all(new.endswith("_SECONDS") for new in RENAMED_SUFFIXES.values())


def test_the_history_settings_refuse_their_old_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from orders.history.settings import CassandraSettings, HistorySettings

    monkeypatch.setenv("ORDERS_HISTORY_LAG_INTERVAL_S", "5")
    with pytest.raises(ValidationError, match="ORDERS_HISTORY_LAG_INTERVAL_SECONDS"):
        HistorySettings()
    monkeypatch.setenv("CASSANDRA_REQUEST_TIMEOUT_S", "5")
    with pytest.raises(ValidationError, match="CASSANDRA_REQUEST_TIMEOUT_SECONDS"):
        CassandraSettings()
