"""A consumer in a process of its own, for the crash tests (run by path, not collected).

    python consumer_process.py DATABASE_URL REDIS_URL SCHEMA GROUP NAME [CRASH]

CRASH `handler:<seq>`: the handler of event <seq> SIGKILLs the process inside the batch
transaction, after the handlers before it ran. `ack:<n>`: the process SIGKILLs itself
instead of its n-th XACK (alone, or in the pipeline of the next read), after that batch
committed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from events_support import Behaviour, scratch_tables, touched_handlers
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from shared.events.consumer import StreamConsumer
from shared.events.settings import EventSettings
from shared.events.streams import events_stream


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(
    database_url: str, redis_url: str, schema: str, group: str, name: str, crash: str
) -> None:
    scratch = scratch_tables(schema)
    point, _, number = crash.partition(":")

    def maybe_die(seq: int) -> None:
        if point == "handler" and seq == int(number):
            die()

    engine = create_async_engine(database_url)
    redis = Redis.from_url(redis_url, decode_responses=True)
    if point == "ack":
        acks, xack, pipeline = 0, redis.xack, redis.pipeline

        def count_ack() -> None:
            nonlocal acks
            acks += 1
            if acks == int(number):
                die()

        async def xack_or_die(*args: Any) -> Any:
            count_ack()
            return await xack(*args)

        def pipeline_dying_at_its_xack(*args: Any, **kwargs: Any) -> Any:
            """An XACK also travels with the next XREADGROUP, in a pipeline."""
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def execute_or_die(*a: Any, **k: Any) -> Any:
                if any(command[0] == "XACK" for command, _ in pipe.command_stack):
                    count_ack()
                return await execute(*a, **k)

            pipe.execute = execute_or_die  # type: ignore[method-assign]
            return pipe

        redis.xack = xack_or_die  # type: ignore[method-assign]
        redis.pipeline = pipeline_dying_at_its_xack  # type: ignore[method-assign]

    consumer = StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=scratch.inbox,
        group=group,
        stream=events_stream(schema),
        handlers=touched_handlers(scratch, Behaviour(consumer=name, on_seq=maybe_die)),
        settings=EventSettings(
            consumer_batch_size=10,
            consumer_block_seconds=0.1,
            claim_idle_seconds=0.3,
            claim_interval_seconds=0.1,
        ),
        name=name,
    )
    await consumer.run()


if __name__ == "__main__":
    database_url, redis_url, schema, group, name, *crash = sys.argv[1:]
    asyncio.run(main(database_url, redis_url, schema, group, name, "".join(crash)))
