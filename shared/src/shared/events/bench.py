"""End-to-end benchmark of the backbone: commit -> outbox -> relay -> stream -> handled.

    python -m shared.events.bench [--events 20000] [--rate 500] [--seconds 10] [--consumers 1]
                                  [--loops asyncio,uvloop]

Runs in a scratch schema (dropped afterwards) of `--database-url` and on scratch streams
of `--redis-url`. Producers run in this process, relays and consumers in processes of
their own. Phase 1 measures sustained throughput with writers
committing as fast as they can; phase 2 paces one event per transaction at `--rate` and
reports latency percentiles (commit to handler, measured on one machine clock).
Each consumer process reports the events it handled and its CPU time per event (from
/proc); `--loops` gives each consumer its event loop, so two loops (or two versions of
the code, through PYTHONPATH) are compared in the same run under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import time
from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from sqlalchemy import Column, Float, Table, Text, Uuid, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from shared.db import service_metadata
from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope, EventCatalog, EventPayload, new_event
from shared.events.handlers import EventHandlers
from shared.events.inbox import inbox_table
from shared.events.outbox import Outbox
from shared.events.relay import OutboxRelay
from shared.events.settings import EventSettings
from shared.events.streams import dead_letter_stream, events_stream

catalog = EventCatalog("bench")


class BenchSettings(BaseSettings):
    """Tuning of the relay and consumers under test, e.g. `BENCH_EVENTS__CONSUMER_BATCH_SIZE`."""

    model_config = SettingsConfigDict(env_prefix="BENCH_", env_nested_delimiter="__")

    events: EventSettings = EventSettings()


@catalog.declare(version=1)
class Pinged(EventPayload):
    """A benchmark event; `sent_at` is the producer's clock just before its commit."""

    sent_at: float


@dataclass
class BenchSchema:
    schema: str
    outbox: Outbox
    inbox: Table
    effects: Table


def bench_schema(schema: str) -> BenchSchema:
    metadata = service_metadata(schema)
    effects = Table(
        "effects",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("latency_ms", Float, nullable=False),
        Column("consumer", Text, nullable=False),
    )
    return BenchSchema(schema, Outbox(metadata), inbox_table(metadata), effects)


def _worker_process(
    role: str, database_url: str, redis_url: str, schema: str, name: str, loop: str
) -> None:
    worker = _relay if role == "relay" else _consume
    coroutine = worker(database_url, redis_url, schema, name)
    if loop == "uvloop":
        import uvloop

        uvloop.run(coroutine)
    else:
        asyncio.run(coroutine)


def _cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _relay(database_url: str, redis_url: str, schema: str, name: str) -> None:
    relay = OutboxRelay(
        engine=create_async_engine(database_url),
        outbox=bench_schema(schema).outbox,
        redis=Redis.from_url(redis_url, decode_responses=True),
        stream=events_stream(schema),
        settings=BenchSettings().events,
    )
    await relay.run()


async def _consume(database_url: str, redis_url: str, schema: str, name: str) -> None:
    tables = bench_schema(schema)
    handlers = EventHandlers()
    record = insert(tables.effects)

    @handlers.on(Pinged.event_type, Pinged)
    async def on_pinged(session: AsyncSession, event: Envelope[Pinged]) -> None:
        latency_ms = (time.time() - event.payload.sent_at) * 1000
        row = {"event_id": event.event_id, "latency_ms": latency_ms, "consumer": name}
        await session.execute(record, row)

    engine = create_async_engine(database_url)
    consumer = StreamConsumer(
        redis=Redis.from_url(redis_url, decode_responses=True),
        engine=engine,
        inbox=tables.inbox,
        group=f"{schema}_consumers",
        stream=events_stream(schema),
        handlers=handlers,
        settings=BenchSettings().events,
        name=name,
    )
    await consumer.run()


async def _produce(
    engine: AsyncEngine, outbox: Outbox, commits: int, *, per_commit: int, aggregate: str
) -> None:
    for _ in range(commits):
        async with AsyncSession(engine) as session, session.begin():
            sent_at = time.time()
            payload = Pinged(sent_at=sent_at)
            envelopes = [new_event(payload, aggregate_id=aggregate) for _ in range(per_commit)]
            await outbox.add(session, *envelopes)


async def _handled(engine: AsyncEngine, effects: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(effects))).scalar_one())


async def _handled_by(engine: AsyncEngine, effects: Table) -> list[tuple[str, int]]:
    """Events handled per consumer since the effects were last cleared."""
    query = select(effects.c.consumer, func.count()).group_by(effects.c.consumer)
    async with engine.connect() as conn:
        return [(str(name), int(count)) for name, count in await conn.execute(query)]


async def _wait_handled(engine: AsyncEngine, effects: Table, total: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await _handled(engine, effects) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {await _handled(engine, effects)}/{total} handled in time")
        await asyncio.sleep(0.02)


async def throughput(
    engine: AsyncEngine, tables: BenchSchema, *, events: int, writers: int, per_commit: int
) -> float:
    """Events per second, first commit to last handled, with writers at full speed."""
    started = time.perf_counter()
    commits = events // writers // per_commit
    await asyncio.gather(
        *(
            _produce(engine, tables.outbox, commits, per_commit=per_commit, aggregate=f"w{n}")
            for n in range(writers)
        )
    )
    total = commits * per_commit * writers
    await _wait_handled(engine, tables.effects, total, timeout_s=300)
    return total / (time.perf_counter() - started)


async def latency(
    engine: AsyncEngine, tables: BenchSchema, *, rate: int, seconds: float
) -> dict[str, float]:
    """Latency percentiles at a steady rate of one-event transactions."""
    async with engine.begin() as conn:
        await conn.execute(tables.effects.delete())
    total = int(rate * seconds)
    started = time.perf_counter()
    in_flight: set[asyncio.Task[None]] = set()
    for n in range(total):
        # Open-loop pacing: a slow commit does not delay the next event's start.
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(
            _produce(engine, tables.outbox, 1, per_commit=1, aggregate=f"a{n % 16}")
        )
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    await _wait_handled(engine, tables.effects, total, timeout_s=120)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    *(
                        func.percentile_cont(q).within_group(tables.effects.c.latency_ms)
                        for q in (0.5, 0.95, 0.99)
                    ),
                    func.max(tables.effects.c.latency_ms),
                )
            )
        ).one()
    return dict(zip(("p50", "p95", "p99", "max"), map(float, row), strict=True))


async def main(args: argparse.Namespace) -> None:
    schema = f"events_bench_{secrets.token_hex(4)}"
    tables = bench_schema(schema)
    engine = create_async_engine(args.database_url, pool_size=args.writers + 4)
    redis = Redis.from_url(args.redis_url, decode_responses=True)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(tables.outbox.table.metadata.create_all)
    context = multiprocessing.get_context("spawn")
    loops = args.loops or ["asyncio"] * args.consumers
    roles = [("relay", "asyncio")] * args.relays + [("consumer", loop) for loop in loops]
    workers = [
        context.Process(
            target=_worker_process,
            args=(role, args.database_url, args.redis_url, schema, f"bench-{n}-{loop}", loop),
            daemon=True,
        )
        for n, (role, loop) in enumerate(roles)
    ]
    consumers = {
        f"bench-{n}-{loop}": process
        for (n, (role, loop)), process in zip(enumerate(roles), workers, strict=True)
        if role == "consumer"
    }
    try:
        for process in workers:
            process.start()
        await latency(engine, tables, rate=50, seconds=2)  # warm-up: imports, pools, plans
        cpu = {name: _cpu_seconds(process.pid) for name, process in consumers.items()}
        handled: dict[str, int] = {}
        for per_commit in args.per_commit:
            async with engine.begin() as conn:
                await conn.execute(tables.effects.delete())
            rate = await throughput(
                engine, tables, events=args.events, writers=args.writers, per_commit=per_commit
            )
            for name, count in await _handled_by(engine, tables.effects):
                handled[name] = handled.get(name, 0) + count
            print(
                f"throughput: {rate:,.0f} events/s end to end ({args.events} events, "
                f"{per_commit} per commit, {args.writers} writers, "
                f"{args.relays} relay and {len(consumers)} consumer process(es))"
            )
        figures = await latency(engine, tables, rate=args.rate, seconds=args.seconds)
        for name, count in await _handled_by(engine, tables.effects):
            handled[name] = handled.get(name, 0) + count
        print(
            f"latency at {args.rate} events/s for {args.seconds:.0f} s: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in figures.items())
        )
        for name, process in consumers.items():
            used = _cpu_seconds(process.pid) - cpu[name]
            count = handled.get(name, 0)
            per_event = f"{used / count * 1e6:,.0f} us per event" if count else "-"
            print(f"consumer {name}: {count} events, {used:.2f} s CPU, {per_event}")
    finally:
        for process in workers:
            process.terminate()
            process.join(10)
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await redis.delete(events_stream(schema), dead_letter_stream(f"{schema}_consumers"))
        await redis.aclose()
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.events.bench", description=__doc__)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    # Not database 15: test suites flush that one.
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--relays", type=int, default=1)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--per-commit", type=int, nargs="+", default=[1, 10])
    parser.add_argument(
        "--loops",
        type=lambda value: value.split(","),
        default=None,
        help="one consumer per entry, on that event loop (asyncio or uvloop)",
    )
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))
