"""A consumer with several entries in flight: a slow entry holds back no other, the
entries of one aggregate still run one after another in stream order, and each entry is
acknowledged once its handler is done, not before."""

from __future__ import annotations

import asyncio

from events_support import Scratch, Touched, publish_touched
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.events.streams import events_stream
from shared.testing import eventually_async as eventually


class Gatekeeper:
    """Task handlers that record what ran and wait at a gate chosen per seq."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.finished: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}

    def handlers(self) -> EventHandlers:
        handlers = EventHandlers()

        @handlers.task(Touched.event_type, Touched)
        async def handle(event: Envelope[Touched]) -> None:
            seq = event.payload.seq
            self.started.append(seq)
            if seq in self.gates:
                await self.gates[seq].wait()
            self.finished.append(seq)

        return handlers


async def pending(redis: Redis, stream: str, group: str) -> int:
    return int((await redis.xpending(stream, group))["pending"])


async def test_a_slow_entry_holds_back_no_other_and_one_aggregate_keeps_its_order(
    engine: AsyncEngine, scratch: Scratch, redis: Redis, settings: EventSettings
) -> None:
    stream, group = events_stream(scratch.schema), f"group_{scratch.schema}"
    # Order 1: seq 1 (slow), then 2 and 3; orders 2..6: one event each (seq 10..14).
    events = [("1", 1), ("1", 2), ("1", 3), *((str(n), 8 + n) for n in range(2, 7))]
    await publish_touched(
        engine, redis, scratch, settings, [(key, Touched(seq=seq)) for key, seq in events]
    )
    keeper = Gatekeeper()
    keeper.gates[1] = asyncio.Event()
    consumer = StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=scratch.inbox,
        group=group,
        stream=stream,
        handlers=keeper.handlers(),
        settings=settings.model_copy(update={"consumer_max_in_flight": 8}),
        name="c1",
    )
    task = asyncio.create_task(consumer.run())
    try:
        # Every other order's event is done while order 1's first one is still held...
        await eventually(
            lambda: _async(sorted(keeper.finished) == list(range(10, 15))),
            what="the other orders' events",
        )
        # ...and order 1's later events wait behind it, unacknowledged.
        assert keeper.started.count(2) == keeper.started.count(3) == 0
        assert 1 in keeper.started
        assert await pending(redis, stream, group) == 3
        keeper.gates[1].set()
        await eventually(lambda: _async(len(keeper.finished) == 8), what="order 1's events")
        await eventually(
            lambda: _pending_is(redis, stream, group, 0), what="every entry to be acknowledged"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    order_1 = [seq for seq in keeper.finished if seq < 10]
    assert order_1 == [1, 2, 3]


async def _async(value: bool) -> bool:
    return value


async def _pending_is(redis: Redis, stream: str, group: str, count: int) -> bool:
    return await pending(redis, stream, group) == count
