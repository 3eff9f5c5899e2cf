"""Consumers: each event has one effect, whatever is redelivered, crashed or poisoned."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from events_support import (
    Behaviour,
    Scratch,
    Touched,
    consuming,
    group_settled,
    publish_touched,
    scratch_consumer,
    touched_handlers,
)
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.events.streams import dead_letter_stream, events_stream
from shared.testing import eventually_async as eventually

REPO_ROOT = Path(__file__).resolve().parents[3]
CONSUMER_PROCESS = Path(__file__).with_name("consumer_process.py")


async def publish_events(
    engine: AsyncEngine,
    redis: Redis,
    scratch: Scratch,
    settings: EventSettings,
    payloads: list[Touched],
) -> list[str]:
    """Commit the events of one aggregate through the outbox and relay them to the stream."""
    return await publish_touched(engine, redis, scratch, settings, [("agg", p) for p in payloads])


async def effects_per_event(engine: AsyncEngine, scratch: Scratch) -> dict[str, int]:
    effects = scratch.effects
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(effects.c.event_id, func.count()).group_by(effects.c.event_id)
        )
        return {str(event_id): count for event_id, count in rows}


def make_consumer(
    engine: AsyncEngine,
    redis: Redis,
    scratch: Scratch,
    settings: EventSettings,
    behaviour: Behaviour,
    name: str = "c1",
) -> StreamConsumer:
    handlers = touched_handlers(scratch, behaviour)
    return scratch_consumer(engine, redis, scratch, settings, handlers, name)


async def test_a_redelivered_event_has_no_second_effect(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    ids = await publish_events(
        engine, redis, scratch, settings, [Touched(seq=n) for n in range(30)]
    )
    consumer = make_consumer(engine, redis, scratch, settings, Behaviour())
    async with consuming(consumer):
        await eventually(lambda: group_settled(redis, stream, group), what="the group to catch up")
        # Every entry again, as after a relay crash between XADD and its commit.
        for _entry_id, fields in await redis.xrange(stream):
            await redis.xadd(stream, fields)
        await eventually(lambda: group_settled(redis, stream, group), what="the duplicates")
    assert await effects_per_event(engine, scratch) == dict.fromkeys(ids, 1)
    assert await redis.xlen(stream) == 60


async def test_a_group_created_late_still_gets_earlier_events(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    ids = await publish_events(engine, redis, scratch, settings, [Touched(seq=1)])
    async with consuming(make_consumer(engine, redis, scratch, settings, Behaviour())):

        async def handled() -> bool:
            return await effects_per_event(engine, scratch) == dict.fromkeys(ids, 1)

        await eventually(handled, what="the event published before the group existed")


@pytest.mark.parametrize("recovery", ["restart", "takeover"])
@pytest.mark.parametrize("crash", ["handler:25", "ack:3"])
async def test_a_consumer_killed_mid_batch_loses_and_repeats_nothing(
    engine: AsyncEngine,
    scratch: Scratch,
    redis: Redis,
    settings: EventSettings,
    database_url: str,
    redis_url: str,
    recovery: str,
    crash: str,
) -> None:
    """SIGKILL in the middle of a batch (`handler:25`: inside its transaction; `ack:3`:
    after its commit, before its XACK, so redelivery meets the inbox rows).

    `restart`: the same consumer name comes back and drains its own pending entries.
    `takeover`: another consumer claims them with XAUTOCLAIM once they are idle.
    """
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    ids = await publish_events(
        engine, redis, scratch, settings, [Touched(seq=n) for n in range(60)]
    )

    def start(name: str, *extra: str) -> subprocess.Popen[bytes]:
        args = [database_url, redis_url, scratch.schema, group, name, *extra]
        return subprocess.Popen([sys.executable, str(CONSUMER_PROCESS), *args], cwd=REPO_ROOT)

    victim = start("victim", crash)
    try:
        assert await asyncio.to_thread(victim.wait, 30) == -9
    finally:
        victim.kill()
    before = await effects_per_event(engine, scratch)
    # Batches of 10: two committed before the kill in a handler, three before the ack.
    assert len(before) == {"handler:25": 20, "ack:3": 30}[crash]
    pending = await redis.xpending(stream, group)
    assert pending["pending"] > 0

    survivor = start("victim" if recovery == "restart" else "survivor")
    try:

        async def all_handled() -> bool:
            return len(await effects_per_event(engine, scratch)) == 60 and await group_settled(
                redis, stream, group
            )

        await eventually(all_handled, seconds=30, what="recovery of the killed consumer's entries")
    finally:
        survivor.terminate()
        await asyncio.to_thread(survivor.wait, 10)
    assert await effects_per_event(engine, scratch) == dict.fromkeys(ids, 1)


async def test_a_poison_event_is_dead_lettered_and_replayed_once_fixed(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings, redis_url: str
) -> None:
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    payloads = [Touched(seq=n, poison=(n == 2)) for n in range(6)]
    ids = await publish_events(engine, redis, scratch, settings, payloads)
    poison_id = ids[2]
    behaviour = Behaviour(poisoned=True)
    dead_letters = dead_letter_stream(group)

    async with consuming(make_consumer(engine, redis, scratch, settings, behaviour)):

        async def parked() -> bool:
            handled = await effects_per_event(engine, scratch)
            return len(handled) == 5 and await redis.xlen(dead_letters) == 1

        await eventually(parked, what="the others handled and the poison dead-lettered")
        await eventually(lambda: group_settled(redis, stream, group), what="the poison acked")

    assert poison_id not in await effects_per_event(engine, scratch)
    assert behaviour.attempts[poison_id] == settings.max_deliveries
    [(letter_id, letter)] = await redis.xrange(dead_letters)
    assert letter["event_id"] == poison_id
    assert letter["stream"] == stream
    assert letter["group"] == group
    assert letter["deliveries"] == str(settings.max_deliveries)
    assert "RuntimeError: poisoned event" in letter["error"]
    assert letter["id"] in [entry_id for entry_id, _ in await redis.xrange(stream)]

    def cli(*args: str) -> str:
        command = [sys.executable, "-m", "shared.events.cli", "--redis-url", redis_url, *args]
        return subprocess.run(
            command, check=True, capture_output=True, text=True, cwd=REPO_ROOT
        ).stdout

    listing = await asyncio.to_thread(cli, "dead-letters", group)
    assert letter_id in listing
    assert "poisoned event" in listing

    behaviour.poisoned = False  # the cause is fixed
    async with consuming(make_consumer(engine, redis, scratch, settings, behaviour)):
        output = await asyncio.to_thread(cli, "replay", group, "--all")
        assert "replayed 1" in output

        async def replayed() -> bool:
            return len(await effects_per_event(engine, scratch)) == 6 and await group_settled(
                redis, stream, group
            )

        await eventually(replayed, what="the replayed event to be handled")
    assert await redis.xlen(dead_letters) == 0
    assert await effects_per_event(engine, scratch) == dict.fromkeys(ids, 1)


async def test_a_cancellation_swallowed_under_the_consumer_still_stops_it(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    """Python 3.11's asyncio.wait_for (inside redis-py and SQLAlchemy's pool) can return
    normally although the task was cancelled; the consumer must stop all the same."""
    in_handler, swallowed = asyncio.Event(), False
    handlers = EventHandlers()

    @handlers.on(Touched.event_type, Touched)
    async def on_touched(session: AsyncSession, event: Envelope[Touched]) -> None:
        nonlocal swallowed
        in_handler.set()
        if not swallowed:
            swallowed = True
            with contextlib.suppress(asyncio.CancelledError):  # what the library does, once
                await asyncio.Event().wait()

    await publish_events(engine, redis, scratch, settings, [Touched(seq=1)])
    task = asyncio.create_task(scratch_consumer(engine, redis, scratch, settings, handlers).run())
    try:
        await asyncio.wait_for(in_handler.wait(), 30)
        task.cancel()
        await asyncio.wait([task], timeout=30)  # a guard against a hang, not a measure
        assert task.cancelled(), "the consumer went on after its cancellation"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
