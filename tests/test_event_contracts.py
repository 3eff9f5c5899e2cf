"""Event contracts: every consumer group's handler registry against the producers'
declared catalogs (`<service>.events.published.events`, the payload models exported into
the OpenAPI document) and against the subscriptions table of docs/events.md.

Services never import each other, so a consumer names the types it handles in string
literals; this test (which may import every service) is what keeps those literals true.
It fails when
- a group handles (or ignores) a type, or a version, that no producer of the streams it
  reads declares (a typo, a renamed or retired event);
- a producer declares an event on a stream that a group reads and the group neither
  handles nor ignores it (a new event nobody decided about: it would be counted unknown);
- docs/events.md says a group needs an event that its registry has no handler for, or
  the registry handles one the table does not list.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import ModuleType

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from shared.events.consumer import StreamConsumer
from shared.events.envelope import EventCatalog
from shared.events.handlers import EventHandlers
from shared.testing import REPO_ROOT

DOC = REPO_ROOT / "docs" / "events.md"
TABLE = re.compile(r"<!-- subscriptions -->\n(.*?)<!-- /subscriptions -->", re.DOTALL)
EVENT = re.compile(r"`([a-z]+\.[A-Za-z]+)` v(\d+)")
# Processes of deploy/services.toml that are not the shop's workers, and why.
NOT_WORKERS = {"orders.mailsink": "a development SMTP server standing in for the mail relay"}


def registry() -> list[dict[str, object]]:
    services: list[dict[str, object]] = tomllib.loads(
        (REPO_ROOT / "deploy" / "services.toml").read_text()
    )["service"]
    return services


def worker_modules() -> list[ModuleType]:
    """Every worker of deploy/services.toml that is `python -m <module>`."""
    modules = []
    for service in registry():
        workers = service.get("workers", {})
        assert isinstance(workers, dict)
        for command in workers.values():
            program, flag, module, *_ = str(command).split()
            assert (program, flag) == ("python", "-m"), command
            if module in NOT_WORKERS:
                continue
            modules.append(importlib.import_module(module))
    return modules


def producer_catalogs() -> dict[str, EventCatalog]:
    """Producer (= stream `<producer>.events`) -> its declared events."""
    catalogs = {}
    for service in registry():
        name = str(service["name"])
        try:
            module = importlib.import_module(f"{name}.events.published")
        except ModuleNotFoundError:
            continue  # publishes nothing (the gateway)
        catalog = module.events
        assert isinstance(catalog, EventCatalog)
        assert catalog.producer == name
        catalogs[name] = catalog
    return catalogs


@dataclass
class Group:
    """One registry of a consumer group and the streams it reads with it."""

    group: str
    handlers: EventHandlers
    streams: list[str] = field(default_factory=list)


@pytest.fixture
async def groups() -> AsyncIterator[list[Group]]:
    # Clients that are never used: building a consumer opens no connection.
    engine = create_async_engine("postgresql+asyncpg://contracts@127.0.0.1:1/none")
    redis = Redis(port=1)
    consumers: list[StreamConsumer] = []
    for module in worker_modules():
        assert hasattr(module, "consumers"), f"{module.__name__} must declare its consumers()"
        consumers += module.consumers(engine, redis)
    by_registry: dict[int, Group] = {}
    for consumer in consumers:
        entry = by_registry.setdefault(
            id(consumer.handlers), Group(consumer.group, consumer.handlers)
        )
        assert entry.group == consumer.group
        entry.streams.append(consumer.stream)
    yield list(by_registry.values())
    await redis.aclose()
    await engine.dispose()


def declared(catalogs: dict[str, EventCatalog], streams: list[str]) -> set[tuple[str, int]]:
    """(type, version) of every event published on the streams."""
    events = set()
    for stream in streams:
        producer = stream.removesuffix(".events")
        assert producer in catalogs, f"{stream} has no producer declaring its events"
        events |= {(cls.event_type, cls.event_version) for cls in catalogs[producer].events}
    return events


def documented() -> dict[tuple[str, str], dict[str, int]]:
    """(group, stream) -> {type: version} from the subscriptions table of docs/events.md."""
    match = TABLE.search(DOC.read_text())
    assert match, f"{DOC} has no <!-- subscriptions --> table"
    table: dict[tuple[str, str], dict[str, int]] = {}
    for line in match.group(1).splitlines()[2:]:  # past the header and its rule
        group, stream, needs = (cell.strip() for cell in line.strip().strip("|").split("|"))
        key = (group.strip("`"), stream.strip("`"))
        assert key not in table, f"{key} is listed twice"
        table[key] = {event: int(version) for event, version in EVENT.findall(needs)}
    return table


def test_every_worker_is_found_and_the_groups_read_streams(groups: list[Group]) -> None:
    assert {g.group for g in groups} >= {"catalog", "orders", "payments", "history"}


def test_every_subscription_is_to_a_declared_type_and_version(groups: list[Group]) -> None:
    catalogs = producer_catalogs()
    problems = []
    for g in groups:
        events = declared(catalogs, g.streams)
        types = {event_type for event_type, _ in events}
        for event_type, version in g.handlers.subscriptions.items():
            if (event_type, version) not in events:
                problems.append(
                    f"group {g.group} handles {event_type} v{version}, which no producer of "
                    f"{', '.join(g.streams)} declares"
                )
        for event_type in g.handlers.ignored:
            if event_type not in types:
                problems.append(f"group {g.group} ignores {event_type}, which nobody declares")
    assert not problems, "\n".join(problems)


def test_every_declared_event_on_a_stream_is_handled_or_ignored(groups: list[Group]) -> None:
    catalogs = producer_catalogs()
    problems = []
    for g in groups:
        known = set(g.handlers.subscriptions) | set(g.handlers.ignored)
        for event_type, version in sorted(declared(catalogs, g.streams)):
            if event_type not in known:
                problems.append(
                    f"{event_type} v{version} reaches group {g.group}, which neither handles "
                    "nor ignores it"
                )
    assert not problems, "\n".join(problems)


def test_the_documented_needs_are_exactly_the_handlers(groups: list[Group]) -> None:
    docs = documented()
    code: dict[tuple[str, str], dict[str, int]] = {}
    for g in groups:
        producers = {stream.removesuffix(".events") for stream in g.streams}
        for stream in g.streams:
            producer = stream.removesuffix(".events")
            # A registry that reads two streams: each row lists that producer's events.
            code[(g.group, stream)] = {
                t: v
                for t, v in g.handlers.subscriptions.items()
                if len(producers) == 1 or t.startswith(f"{producer}.")
            }
    problems = []
    for key in sorted(docs.keys() | code.keys()):
        needs, handles = docs.get(key, {}), code.get(key, {})
        if key not in code:
            problems.append(f"docs/events.md lists group {key[0]} on {key[1]}: no worker runs it")
        for event_type, version in sorted(needs.items()):
            if handles.get(event_type) != version:
                problems.append(
                    f"docs/events.md says group {key[0]} needs {event_type} v{version} on "
                    f"{key[1]}, and its registry has no handler for it"
                )
        for event_type, version in sorted(handles.items()):
            if needs.get(event_type) != version:
                problems.append(
                    f"group {key[0]} handles {event_type} v{version} on {key[1]}, which "
                    "docs/events.md does not list"
                )
    assert not problems, "\n".join(problems)
