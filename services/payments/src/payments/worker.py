"""The payments worker: `python -m payments.worker`.

One process runs the service's outbox relay (`payments.events`), the consumer of
`orders.events` (the order replica and refunds, group `payments`) and the processor (the
consumer of its own PaymentRequested events, group `payments-processor`). Run one or
more; consumer groups share the work between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import start_http_server
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.db import idempotency
from payments.db.tables import inbox, outbox
from payments.domain.processing import RetryPolicy
from payments.events.handlers import (
    ORDERS_GROUP,
    PROCESSOR_GROUP,
    build_order_handlers,
    build_processor_handlers,
)
from payments.provider.base import PaymentProvider
from payments.provider.simulated import SimulatedProvider
from payments.settings import PaymentsSettings
from shared.db import create_engine
from shared.events.consumer import StreamConsumer, default_consumer_name
from shared.events.relay import OutboxRelay
from shared.events.streams import events_stream
from shared.logs import configure_logging
from shared.redis_client import create_redis
from shared.worker import every

log = logging.getLogger(__name__)
PURGE_INTERVAL_S = 3600.0


def retry_policy(settings: PaymentsSettings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.provider_max_attempts,
        backoff_s=settings.provider_backoff_s,
        timeout_s=settings.provider_timeout_s,
    )


@dataclass
class Worker:
    relay: OutboxRelay
    orders_consumer: StreamConsumer
    processor: StreamConsumer
    engine: AsyncEngine
    idempotency_ttl: timedelta

    async def run(self) -> None:
        """Run everything until cancelled."""
        jobs: list[Coroutine[Any, Any, None]] = [
            self.relay.run(),
            self.orders_consumer.run(),
            self.processor.run(),
            self._purge_idempotency_keys(),
        ]
        tasks = [asyncio.create_task(job) for job in jobs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _purge_idempotency_keys(self) -> None:
        await every(
            PURGE_INTERVAL_S,
            lambda: idempotency.purge(self.engine, before=datetime.now(UTC) - self.idempotency_ttl),
            what="purging idempotency keys",
        )


def build_worker(
    settings: PaymentsSettings,
    *,
    engine: AsyncEngine,
    redis: Redis,
    provider: PaymentProvider | None = None,
) -> Worker:
    provider = provider or SimulatedProvider(engine, latency_s=settings.provider_latency_s)
    retry = retry_policy(settings)
    name = settings.worker_name or default_consumer_name()
    return Worker(
        relay=OutboxRelay(
            engine=engine,
            outbox=outbox,
            redis=redis,
            stream=events_stream("payments"),
            settings=settings.events,
        ),
        orders_consumer=StreamConsumer(
            redis=redis,
            engine=engine,
            inbox=inbox,
            group=ORDERS_GROUP,
            stream=events_stream("orders"),
            handlers=build_order_handlers(provider, retry),
            settings=settings.events,
            name=name,
        ),
        processor=StreamConsumer(
            redis=redis,
            engine=engine,
            inbox=inbox,
            group=PROCESSOR_GROUP,
            stream=events_stream("payments"),
            handlers=build_processor_handlers(provider, retry),
            # One payment per transaction: a slow or failing charge holds back no other.
            settings=settings.events.model_copy(update={"consumer_batch_size": 1}),
            name=name,
        ),
        engine=engine,
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
    )


async def main(settings: PaymentsSettings | None = None) -> None:
    settings = settings or PaymentsSettings()
    configure_logging(service="payments-worker", level=settings.log_level, json=settings.log_json)
    if settings.worker_metrics_port:
        # Event lag, pending entries and dead letters live in this process: expose them.
        start_http_server(settings.worker_metrics_port)
    engine = create_engine(settings, application_name="payments-worker")
    redis = create_redis(settings)
    task = asyncio.create_task(build_worker(settings, engine=engine, redis=redis).run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await redis.aclose()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
