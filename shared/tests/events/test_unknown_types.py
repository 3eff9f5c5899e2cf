"""Entries of a type the group has no handler for: ignored when the registry says so,
otherwise counted and logged as unknown; acknowledged either way."""

from __future__ import annotations

import json
import logging
from uuid import uuid4

import pytest
from events_support import Behaviour, Scratch, Touched, touched_handlers
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.consumer import StreamConsumer
from shared.events.envelope import new_event
from shared.events.settings import EventSettings
from shared.events.streams import entry_fields, events_stream


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def add(redis: Redis, stream: str, event_type: str, envelope_json: str) -> None:
    fields = entry_fields(event_id=str(uuid4()), event_type=event_type, envelope_json=envelope_json)
    await redis.xadd(stream, fields)  # type: ignore[arg-type]


async def test_unknown_types_are_counted_logged_and_acknowledged_ignored_ones_only_acked(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    handlers = touched_handlers(scratch, Behaviour())
    handlers.ignore("events_test.Skipped")
    consumer = StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=scratch.inbox,
        group=group,
        stream=stream,
        handlers=handlers,
        settings=settings,
        name="c1",
    )
    touched = new_event(Touched(seq=1), aggregate_id="agg").model_dump_json()
    other = json.dumps({"type": "other", "payload": {}})
    await add(redis, stream, "events_test.Touched", touched)
    await add(redis, stream, "events_test.Skipped", other)
    await add(redis, stream, "somebody.Renamed", other)
    await add(redis, stream, "somebody.Renamed", other)

    def outcome(name: str) -> float:
        labels = {"stream": stream, "group": group, "outcome": name}
        return sample("shop_events_handled_total", labels)

    unknown = {"stream": stream, "type": "somebody.Renamed"}
    before = {name: outcome(name) for name in ("handled", "ignored", "unknown")}
    unknown_before = sample("shop_events_unknown_total", unknown)
    with caplog.at_level(logging.WARNING, logger="shared.events.consumer"):
        await consumer.start()
        await consumer.poll()

    assert {name: outcome(name) - before[name] for name in before} == {
        "handled": 1,
        "ignored": 1,
        "unknown": 2,
    }
    assert sample("shop_events_unknown_total", unknown) - unknown_before == 2
    assert (
        sample("shop_events_unknown_total", {"stream": stream, "type": "events_test.Skipped"}) == 0
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("has no handler for somebody.Renamed" in message for message in warnings) == 2
    assert not any("events_test.Skipped" in message for message in warnings)
    # All four acknowledged (with the next read): nothing pending to walk towards the
    # dead-letter stream.
    await consumer.poll()
    assert (await redis.xpending(stream, group))["pending"] == 0
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(scratch.effects)) == 1
