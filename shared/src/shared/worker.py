"""Run a service's background work (outbox relay, stream consumers, sweepers) as one
process: until SIGTERM/SIGINT, then cancel everything and close cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from prometheus_client import start_http_server
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
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


async def every(seconds: float, job: Callable[[], Awaitable[object]], *, what: str) -> None:
    """Run `job` now and then every `seconds`, for ever; a failed round (database or
    network down) is logged and the next one tries again."""
    while True:
        try:
            await job()
        except (SQLAlchemyError, RedisError, OSError) as exc:
            log.warning("%s failed, retrying next round: %s", what, exc)
        await asyncio.sleep(seconds)


def consumer_name(service: str, settings: ServiceSettings) -> str:
    """Stable across restarts of the same replica, so it drains its own pending entries."""
    return f"{service}-{settings.replica_name or socket.gethostname()}"


async def run_tasks(name: str, tasks: Tasks) -> None:
    """Run the coroutines until a signal or until one of them fails, then cancel all."""
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
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
    for task in failed:
        log.error("%s worker task failed", name, exc_info=task.exception())
    log.info("%s worker stopped", name)
    if failed:
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

    asyncio.run(run())
