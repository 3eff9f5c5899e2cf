"""The projector: `python -m orders.history.worker`.

Consumer group `history` on `orders.events` and `payments.events`. Each event is
archived and folded together (on the embedded store in one statement, on Cassandra in
the consumer's transaction with the inbox row); the fold is idempotent, so a crash at any
point leaves nothing that the redelivery does not mend, and a redelivery changes nothing.
It runs on the shared worker runtime (`shared.worker`): consumer names, signals, GC
tuning, metrics, and a non-zero exit when any task dies are those of every other worker.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history import archive, gate
from orders.history.events import IGNORED, ORDERS_STREAM, PAYLOADS, PAYMENTS_STREAM
from orders.history.metrics import measure_lag
from orders.history.postgres_store import PostgresHistoryStore
from orders.history.projector import fold
from orders.history.settings import CassandraSettings, HistorySettings
from orders.history.store import HistoryStore, open_store
from orders.history.tables import inbox
from orders.settings import OrdersSettings
from shared import periodic, worker
from shared.events.consumer import StreamConsumer
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers
from shared.events.settings import EventSettings

GROUP = "history"
# The runtime's name for this worker: its logs and its consumers are `orders-history-...`.
WORKER = "orders-history"
log = logging.getLogger(__name__)


def build_handlers(store: HistoryStore) -> EventHandlers:
    """One handler for every folded event type: archive it, then apply its fold. On the
    embedded store both are one statement, run in autocommit with no inbox row (the fold
    is idempotent by construction); on Cassandra the store's writes are not PostgreSQL's,
    so the archive row, the gate and the inbox row share the consumer's transaction."""
    handlers = EventHandlers()

    async def fold_one(session: AsyncSession, event: Envelope[Any]) -> None:
        assert isinstance(store, PostgresHistoryStore)
        while not await store.fold_one(session, event, fold(event)):
            await gate.wait_open(session)  # a rebuild is emptying the store

    async def project(session: AsyncSession, event: Envelope[Any]) -> None:
        await gate.enter_fold(session)
        await archive.append(session, [event])
        await store.apply(session, [fold(event)])

    embedded = isinstance(store, PostgresHistoryStore)
    for event_type, payload in PAYLOADS.items():
        if embedded:
            handlers.autocommit(event_type, payload)(fold_one)
        else:
            handlers.on(event_type, payload)(project)
    handlers.ignore(*IGNORED)
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


def consumers(
    engine: AsyncEngine, redis: Redis, settings: OrdersSettings | None = None
) -> list[StreamConsumer]:
    """The projector's consumers on the default streams (tests/test_event_contracts.py
    reads their registries); the store is opened, not prepared."""
    settings = settings or OrdersSettings()
    return build_consumers(
        redis=redis,
        engine=engine,
        store=open_store(engine, CassandraSettings()),
        settings=settings.events,
        streams=[ORDERS_STREAM, PAYMENTS_STREAM],
        name=worker.consumer_name(WORKER, settings),
    )


def build(
    settings: OrdersSettings,
    history: HistorySettings,
    cassandra: CassandraSettings,
    *,
    orders_stream: str = ORDERS_STREAM,
    payments_stream: str = PAYMENTS_STREAM,
) -> worker.Build:
    async def start() -> tuple[worker.Tasks, worker.Cleanup]:
        engine, redis, close = worker.open_resources(settings, application_name=WORKER)
        store = open_store(engine, cassandra)

        async def cleanup() -> None:
            try:
                await store.close()
            finally:
                await close()

        try:
            await store.prepare()
        except BaseException:
            await cleanup()
            raise
        consumers = build_consumers(
            redis=redis,
            engine=engine,
            store=store,
            settings=settings.events,
            streams=[orders_stream, payments_stream],
            name=worker.consumer_name(WORKER, settings),
        )
        producers = {orders_stream: "orders", payments_stream: "payments"}
        tasks: worker.Tasks = [consumer.run() for consumer in consumers]
        tasks.append(
            periodic.every(
                history.lag_interval_seconds,
                lambda: measure_lag(redis, engine, producers),
                name="history-projection-lag",
            )
        )
        log.info("projecting %s into the %s store", ", ".join(producers.values()), store.name)
        return tasks, cleanup

    return start


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orders.history.worker", description=__doc__)
    parser.add_argument("--orders-stream", default=ORDERS_STREAM)
    parser.add_argument("--payments-stream", default=PAYMENTS_STREAM)
    args = parser.parse_args()
    settings = OrdersSettings()
    history = HistorySettings()
    # The port `make run` and compose give every worker wins over the projector's default.
    metrics_port = settings.worker_metrics_port or history.metrics_port
    build_worker = build(
        settings,
        history,
        CassandraSettings(),
        orders_stream=args.orders_stream,
        payments_stream=args.payments_stream,
    )
    worker.main(WORKER, settings, build_worker, metrics_port=metrics_port)


if __name__ == "__main__":
    main()
