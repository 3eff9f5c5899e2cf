"""The operator CLI, run as operators run it: a subprocess."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from events_support import Scratch, Touched
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.events.relay import OutboxRelay
from shared.events.settings import EventSettings
from shared.events.streams import events_stream, parse_entries

REPO_ROOT = Path(__file__).resolve().parents[3]


def cli(redis_url: str, *args: str, database_url: str = "") -> str:
    command = [sys.executable, "-m", "shared.events.cli", "--redis-url", redis_url]
    if database_url:
        command += ["--database-url", database_url]
    result = subprocess.run(
        [*command, *args], check=True, capture_output=True, text=True, cwd=REPO_ROOT
    )
    return result.stdout


async def test_show_streams_groups_and_pending(
    scratch: Scratch, redis: Redis, redis_url: str
) -> None:
    stream = events_stream(scratch.schema)
    ids = [await redis.xadd(stream, {"n": str(n)}) for n in range(3)]
    await redis.xgroup_create(stream, "readers", id="0")
    await redis.xreadgroup("readers", "r1", {stream: ">"}, count=2)

    streams = await asyncio.to_thread(cli, redis_url, "streams")
    assert any(line.split()[:3] == [stream, "3", "1"] for line in streams.splitlines())
    groups = await asyncio.to_thread(cli, redis_url, "groups", stream)
    assert groups.splitlines()[1].split()[:5] == [stream, "readers", "1", "2", "1"]
    pending = await asyncio.to_thread(cli, redis_url, "pending", stream, "readers")
    assert [line.split()[:2] for line in pending.splitlines()[1:]] == [
        [ids[0], "r1"],
        [ids[1], "r1"],
    ]


async def test_republish_a_range_of_outbox_rows(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, redis_url: str, database_url: str
) -> None:
    stream = events_stream(scratch.schema)
    async with AsyncSession(engine) as session, session.begin():
        envelopes = [
            await scratch.outbox.publish(session, Touched(seq=n), aggregate_id="a")
            for n in range(5)
        ]
    relay = OutboxRelay(
        engine=engine, outbox=scratch.outbox, redis=redis, stream=stream, settings=EventSettings()
    )
    await relay.publish_pending()
    await relay.close()

    output = await asyncio.to_thread(
        cli,
        redis_url,
        "republish",
        scratch.schema,
        "--from-id",
        "2",
        "--to-id",
        "4",
        database_url=database_url,
    )
    assert "republished 3" in output
    event_ids = [e.event_id for e in parse_entries(await redis.xrange(stream))]
    expected = [str(e.event_id) for e in envelopes]
    assert event_ids == expected + expected[1:4]
