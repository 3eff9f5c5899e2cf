"""The orders service's background work: `python -m orders.worker`.

- the outbox relay, publishing order events on `orders.events`;
- consumers of `catalog.events` (product replica, stock answers), `payments.events`
  (payment answers) and `users.events` (user replica), as consumer group `orders`;
- the confirmation mailer, group `orders-mailer` on `orders.events`;
- the report keeper (bestsellers, customer stats), group `orders-reports` on `orders.events`;
- the sweep that cancels orders whose payment window passed;
- the purge of Idempotency-Key records older than ORDERS_IDEMPOTENCY_TTL_SECONDS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from orders import expiry
from orders.db import idempotency
from orders.db.tables import inbox, outbox
from orders.events.handlers import (
    catalog_handlers,
    payments_handlers,
    reports_handlers,
    users_handlers,
)
from orders.mail import Mailer, mailer_handlers
from orders.settings import OrdersSettings
from shared import periodic, worker
from shared.events.consumer import StreamConsumer
from shared.events.handlers import EventHandlers
from shared.events.relay import OutboxRelay
from shared.events.streams import events_stream

IDEMPOTENCY_PURGE_SECONDS = 3600.0


def consumers(
    engine: AsyncEngine,
    redis: Redis,
    settings: OrdersSettings | None = None,
    mailer: Mailer | None = None,
) -> list[StreamConsumer]:
    """The worker's consumers (tests/test_event_contracts.py reads their registries; the
    mailer connects at its first mail)."""
    settings = settings or OrdersSettings()
    mailer = mailer or Mailer(settings)
    name = worker.consumer_name("orders", settings)

    def consumer(group: str, producer: str, handlers: EventHandlers) -> StreamConsumer:
        return StreamConsumer(
            redis=redis,
            engine=engine,
            inbox=inbox,
            group=group,
            stream=events_stream(producer),
            handlers=handlers,
            settings=settings.events,
            name=name,
        )

    return [
        consumer("orders", "catalog", catalog_handlers()),
        consumer("orders", "payments", payments_handlers()),
        consumer("orders", "users", users_handlers()),
        consumer("orders-mailer", "orders", mailer_handlers(settings, mailer)),
        consumer("orders-reports", "orders", reports_handlers()),
    ]


def build(settings: OrdersSettings) -> worker.Build:
    async def start() -> tuple[worker.Tasks, worker.Cleanup]:
        engine, redis, close_resources = worker.open_resources(
            settings, application_name="orders-worker"
        )
        mailer = Mailer(settings)

        async def cleanup() -> None:
            await mailer.close()
            await close_resources()

        key_ttl = timedelta(seconds=settings.idempotency_ttl_seconds)

        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            redis=redis,
            stream=events_stream("orders"),
            settings=settings.events,
        )
        tasks: worker.Tasks = [
            relay.run(),
            *(c.run() for c in consumers(engine, redis, settings, mailer)),
            periodic.every(
                settings.expiry_sweep_seconds,
                lambda: expiry.sweep(engine),
                name="orders-payment-window-expiry",
            ),
            periodic.every(
                IDEMPOTENCY_PURGE_SECONDS,
                lambda: idempotency.purge(engine, before=datetime.now(UTC) - key_ttl),
                name="orders-idempotency-purge",
            ),
        ]

        return tasks, cleanup

    return start


def main() -> None:
    settings = OrdersSettings()
    worker.main("orders", settings, build(settings), metrics_port=settings.worker_metrics_port)


if __name__ == "__main__":
    main()
