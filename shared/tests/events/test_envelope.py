"""Envelope, event catalog, JSON Schema export and settings."""

from __future__ import annotations

import json

import pytest
from asgi_correlation_id import correlation_id
from events_support import Touched, catalog
from pydantic_settings import SettingsConfigDict

from shared.events.envelope import (
    Envelope,
    EventCatalog,
    EventPayload,
    export_json_schemas,
    new_event,
)
from shared.settings import ServiceSettings


def test_new_event_fills_the_envelope_from_the_declaration_and_the_request() -> None:
    token = correlation_id.set("req-1")
    try:
        event = new_event(Touched(seq=3), aggregate_id=42)
    finally:
        correlation_id.reset(token)
    assert (event.type, event.version, event.producer) == ("events_test.Touched", 1, "events_test")
    assert event.aggregate_id == "42"
    assert event.correlation_id == "req-1"
    assert event.occurred_at.utcoffset() is not None
    parsed = Envelope[Touched].model_validate_json(event.model_dump_json())
    assert parsed == event


def test_an_explicit_correlation_id_wins_and_outside_a_request_there_is_none() -> None:
    assert new_event(Touched(seq=1), aggregate_id="a").correlation_id is None
    assert new_event(Touched(seq=1), aggregate_id="a", correlation_id="x").correlation_id == "x"


def test_undeclared_payloads_and_double_declarations_are_refused() -> None:
    class Loose(EventPayload):
        n: int

    with pytest.raises(TypeError):
        new_event(Loose(n=1), aggregate_id="a")

    other = EventCatalog("other")
    other.declare(version=1)(Loose)
    with pytest.raises(ValueError, match="declared twice"):
        other.declare(version=1)(Loose)


def test_json_schemas_describe_every_declared_event() -> None:
    document = export_json_schemas([catalog])
    [entry] = document["events"]
    assert (entry["type"], entry["version"], entry["producer"]) == (
        "events_test.Touched",
        1,
        "events_test",
    )
    schema = entry["schema"]
    assert schema["properties"]["type"]["const"] == "events_test.Touched"
    assert {"event_id", "type", "version", "occurred_at", "producer", "payload"} <= set(
        schema["required"]
    )
    json.dumps(document)  # serialisable as is


def test_event_settings_are_nested_in_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    class ShopSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="EVTEST_", env_file=None, extra="ignore")

    monkeypatch.setenv("EVTEST_EVENTS__MAX_DELIVERIES", "9")
    monkeypatch.setenv("EVTEST_EVENTS__CLAIM_IDLE_SECONDS", "1.234")
    settings = ShopSettings()
    assert settings.events.max_deliveries == 9
    assert settings.events.claim_idle_seconds == 1.234
    assert settings.events.consumer_batch_size == 100
