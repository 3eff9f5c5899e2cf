"""The projector: `python -m orders.history.worker`.

Consumer group `history` on `orders.events` and `payments.events`. Each event is
archived and folded in the consumer's transaction (with the inbox row), so a crash at
any point leaves either nothing or everything, and a redelivery changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from prometheus_client import start_http_server
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history import archive, gate
from orders.history.events import ORDERS_STREAM, PAYLOADS, PAYMENTS_STREAM
from orders.history.metrics import measure_lag
from orders.history.projector import fold
from orders.history.settings import CassandraSettings, HistorySettings
from orders.history.store import HistoryStore, open_store
from orders.history.tables import inbox
from orders.settings import OrdersSettings
from shared.db import create_engine
from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings
from shared.logs import configure_logging
from shared.redis_client import create_redis

GROUP = "history"
log = logging.getLogger(__name__)


def build_handlers(store: HistoryStore) -> EventHandlers:
    """One handler for every folded event type: archive it, then apply its fold."""
    handlers = EventHandlers()

    async def project(session: AsyncSession, event: Envelope[Any]) -> None:
        await gate.enter_fold(session)
        await archive.append(session, [event])
        await store.apply(session, [fold(event)])

    for event_type, payload in PAYLOADS.items():
        handlers.on(event_type, payload)(project)
    return handlers


def build_consumers(
    *,
    redis: Redis,
    engine: AsyncEngine,
    store: HistoryStore,
    settings: EventSettings,
    streams: list[str],
    name: str | None = None,
) -> list[StreamConsumer]:
    handlers = build_handlers(store)
    return [
        StreamConsumer(
            redis=redis,
            engine=engine,
            inbox=inbox,
            group=GROUP,
            stream=stream,
            handlers=handlers,
            settings=settings,
            name=name,
        )
        for stream in streams
    ]


async def _report_lag(
    redis: Redis, engine: AsyncEngine, streams: dict[str, str], interval_s: float
) -> None:
    while True:
        try:
            await measure_lag(redis, engine, streams)
        except Exception:  # the gauge must never stop the projector
            log.exception("measuring the projection lag failed")
        await asyncio.sleep(interval_s)


async def run(
    settings: OrdersSettings,
    history: HistorySettings,
    cassandra: CassandraSettings,
    *,
    orders_stream: str = ORDERS_STREAM,
    payments_stream: str = PAYMENTS_STREAM,
) -> None:
    """Project until SIGTERM or SIGINT."""
    engine = create_engine(settings, application_name="orders-history")
    redis = create_redis(settings)
    store = open_store(engine, cassandra)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await store.prepare()
        consumers = build_consumers(
            redis=redis,
            engine=engine,
            store=store,
            settings=settings.events,
            streams=[orders_stream, payments_stream],
            name=settings.replica_name or None,
        )
        producers = {orders_stream: "orders", payments_stream: "payments"}
        tasks = [asyncio.create_task(c.run()) for c in consumers]
        tasks.append(
            asyncio.create_task(_report_lag(redis, engine, producers, history.lag_interval_seconds))
        )
        log.info("projecting %s into the %s store", ", ".join(producers), store.name)
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await store.close()
        await redis.aclose()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orders.history.worker", description=__doc__)
    parser.add_argument("--orders-stream", default=ORDERS_STREAM)
    parser.add_argument("--payments-stream", default=PAYMENTS_STREAM)
    args = parser.parse_args()
    settings = OrdersSettings()
    history = HistorySettings()
    configure_logging(service="orders-history", level=settings.log_level, json=settings.log_json)
    # The port `make run` and compose give every worker wins over the projector's default.
    metrics_port = settings.worker_metrics_port or history.metrics_port
    if metrics_port:
        start_http_server(metrics_port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run(
                settings,
                history,
                CassandraSettings(),
                orders_stream=args.orders_stream,
                payments_stream=args.payments_stream,
            )
        )


if __name__ == "__main__":
    main()
