"""The one runtime of every worker process (`python -m <service>.worker`, the order-history
projector): it runs a service's background work (outbox relay, stream consumers, periodic
jobs through `shared.periodic.every`) on uvloop until SIGTERM/SIGINT, then cancels
everything and closes cleanly. Every worker gets the same consumer names
(`consumer_name`), logging, GC tuning and metrics endpoint, and exits non-zero as soon as
any of its tasks dies (raises or returns), so the supervisor restarts it instead of
leaving it half alive."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import uvloop
from prometheus_client import start_http_server
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.logs import configure_logging
from shared.redis_client import create_redis
from shared.runtime import tune_gc
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

Tasks = list[Coroutine[Any, Any, None]]
Cleanup = Callable[[], Awaitable[None]]
# Builds a worker once its event loop runs: the tasks, and how to close what they use.
Build = Callable[[], Awaitable[tuple[Tasks, Cleanup]]]


def open_resources(
    settings: ServiceSettings, *, application_name: str
) -> tuple[AsyncEngine, Redis, Cleanup]:
    """The engine and Redis client a worker runs on, and the cleanup that closes both."""
    engine = create_engine(settings, application_name=application_name)
    redis = create_redis(settings)

    async def cleanup() -> None:
        await redis.aclose()
        await engine.dispose()

    return engine, redis, cleanup


def consumer_name(service: str, settings: ServiceSettings) -> str:
    """Stable across restarts of the same replica, so it drains its own pending entries."""
    return f"{service}-{settings.replica_name or socket.gethostname()}"


async def run_tasks(name: str, tasks: Tasks) -> None:
    """Run the coroutines until a signal or until one of them ends, then cancel all.

    The tasks are meant to run for ever: one that raises or returns before the signal is
    a dead part of the worker, and the process exits with status 1."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = [asyncio.create_task(task) for task in tasks]
    stopper = asyncio.create_task(stop.wait())
    log.info("%s worker started with %d tasks", name, len(running))
    done, _ = await asyncio.wait([*running, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in [*running, stopper]:
        task.cancel()
    # Every task has ended before the cleanup runs; a failed one is reported below.
    await asyncio.gather(*running, return_exceptions=True)
    ended = [t for t in done if t is not stopper and not t.cancelled()]
    for task in ended:
        if task.exception() is None:
            log.error("%s worker task %s ended on its own", name, task.get_coro())
        else:
            log.error("%s worker task failed", name, exc_info=task.exception())
    log.info("%s worker stopped", name)
    if ended:
        raise SystemExit(1)


def main(
    service: str,
    settings: ServiceSettings,
    build: Build,
    *,
    metrics_port: int = 0,
) -> None:
    """Entry point of `python -m <service>.worker`: `build()` returns the tasks to run and
    an async cleanup (dispose engines, close Redis) run after they stop."""
    configure_logging(service=f"{service}-worker", level=settings.log_level, json=settings.log_json)
    if metrics_port:
        # Event metrics (lag, pending, dead letters) live in this process: expose them.
        start_http_server(metrics_port)

    async def run() -> None:
        tasks, cleanup = await build()
        tune_gc(settings)
        try:
            await run_tasks(service, tasks)
        finally:
            await cleanup()

    # uvloop, as uvicorn runs the APIs: a worker's time is mostly its round trips to
    # PostgreSQL and Redis, and uvloop's transports cost less CPU per round trip than the
    # standard loop's (docs/checkout.md, "A ninth machine").
    uvloop.run(run())
