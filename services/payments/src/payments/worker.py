"""The payments worker: `python -m payments.worker`.

One process runs the service's outbox relay (`payments.events`), the consumer of
`orders.events` (the order replica and refunds, group `payments`) and the processor (the
consumer of its own PaymentRequested events, group `payments-processor`, with up to
PAYMENTS_PROCESSOR_MAX_IN_FLIGHT charges in flight). Run one or more; consumer groups
share the work between them, and a payment's status keeps each charge to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
from shared import periodic, worker
from shared.db import create_sessionmaker
from shared.events.consumer import StreamConsumer
from shared.events.relay import OutboxRelay
from shared.events.streams import events_stream

IDEMPOTENCY_PURGE_SECONDS = 3600.0


def retry_policy(settings: PaymentsSettings) -> RetryPolicy:
    return RetryPolicy(
        attempts=settings.provider_max_attempts,
        backoff_s=settings.provider_backoff_seconds,
        timeout_s=settings.provider_timeout_seconds,
    )


@dataclass
class Worker:
    relay: OutboxRelay
    orders_consumer: StreamConsumer
    processor: StreamConsumer
    engine: AsyncEngine
    idempotency_ttl: timedelta

    def tasks(self) -> worker.Tasks:
        return [
            self.relay.run(),
            self.orders_consumer.run(),
            self.processor.run(),
            periodic.every(
                IDEMPOTENCY_PURGE_SECONDS,
                lambda: idempotency.purge(
                    self.engine, before=datetime.now(UTC) - self.idempotency_ttl
                ),
                name="payments-idempotency-purge",
            ),
        ]


def build_worker(
    settings: PaymentsSettings,
    *,
    engine: AsyncEngine,
    redis: Redis,
    provider: PaymentProvider | None = None,
) -> Worker:
    provider = provider or SimulatedProvider(
        engine, latency_s=settings.provider_latency_seconds, test_holds=settings.provider_test_holds
    )
    retry = retry_policy(settings)
    name = worker.consumer_name("payments", settings)
    in_flight = settings.processor_max_in_flight
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
            handlers=build_processor_handlers(create_sessionmaker(engine), provider, retry),
            # Each charge on its own: a slow or failing one holds back no other.
            settings=settings.events.model_copy(
                update={"consumer_max_in_flight": in_flight, "consumer_batch_size": in_flight}
            ),
            name=name,
        ),
        engine=engine,
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
    )


def consumers(
    engine: AsyncEngine, redis: Redis, settings: PaymentsSettings | None = None
) -> list[StreamConsumer]:
    """The worker's consumers (tests/test_event_contracts.py reads their registries)."""
    built = build_worker(settings or PaymentsSettings(), engine=engine, redis=redis)
    return [built.orders_consumer, built.processor]


def build(settings: PaymentsSettings) -> worker.Build:
    async def start() -> tuple[worker.Tasks, worker.Cleanup]:
        engine, redis, cleanup = worker.open_resources(settings, application_name="payments-worker")
        return build_worker(settings, engine=engine, redis=redis).tasks(), cleanup

    return start


def main() -> None:
    settings = PaymentsSettings()
    worker.main("payments", settings, build(settings), metrics_port=settings.worker_metrics_port)


if __name__ == "__main__":
    main()
