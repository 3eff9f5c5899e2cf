"""The catalog's background work: `python -m catalog.worker`.

- the outbox relay, publishing product and stock events on `catalog.events`;
- the consumer of `orders.events`, reserving, committing and releasing stock.
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.db.cache import ProductCache
from catalog.db.tables import inbox, outbox
from catalog.events.handlers import build_handlers
from catalog.settings import CatalogSettings
from shared import worker
from shared.events.consumer import StreamConsumer
from shared.events.relay import OutboxRelay
from shared.events.streams import events_stream
from shared.redis_client import create_redis


def consumers(
    engine: AsyncEngine,
    redis: Redis,
    settings: CatalogSettings | None = None,
    *,
    cache_redis: Redis | None = None,
) -> list[StreamConsumer]:
    """The worker's consumers (tests/test_event_contracts.py reads their registries);
    invalidations go to `cache_redis` when the cache has a server of its own."""
    settings = settings or CatalogSettings()
    cache = ProductCache(
        cache_redis or redis,
        product_ttl_seconds=settings.product_cache_ttl_seconds,
        list_ttl_seconds=settings.cache_ttl_seconds,
        fill_wait_seconds=settings.cache_fill_wait_seconds,
    )
    stock = StreamConsumer(
        redis=redis,
        engine=engine,
        inbox=inbox,
        group="catalog",
        stream=events_stream("orders"),
        handlers=build_handlers(cache),
        settings=settings.events,
        name=worker.consumer_name("catalog", settings),
    )
    return [stock]


def build(settings: CatalogSettings) -> worker.Build:
    async def start() -> tuple[worker.Tasks, worker.Cleanup]:
        engine, redis, close = worker.open_resources(settings, application_name="catalog-worker")
        # Invalidations go to the cache server, events to the streams server.
        cache_redis = create_redis(settings, cache=True) if settings.cache_redis_url else redis

        async def cleanup() -> None:
            if cache_redis is not redis:
                await cache_redis.aclose()
            await close()

        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            redis=redis,
            stream=events_stream("catalog"),
            settings=settings.events,
        )
        tasks = [
            relay.run(),
            *(c.run() for c in consumers(engine, redis, settings, cache_redis=cache_redis)),
        ]
        return tasks, cleanup

    return start


def main() -> None:
    settings = CatalogSettings()
    worker.main("catalog", settings, build(settings), metrics_port=settings.worker_metrics_port)


if __name__ == "__main__":
    main()
