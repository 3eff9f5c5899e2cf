"""The catalog's background work: `python -m catalog.worker`.

- the outbox relay, publishing product and stock events on `catalog.events`;
- the consumer of `orders.events`, reserving, committing and releasing stock.
"""

from __future__ import annotations

from catalog.db.cache import ProductCache
from catalog.db.tables import inbox, outbox
from catalog.events.handlers import build_handlers
from catalog.settings import CatalogSettings
from shared import worker
from shared.events.consumer import StreamConsumer
from shared.events.relay import OutboxRelay
from shared.events.streams import events_stream
from shared.redis_client import create_redis


def build(settings: CatalogSettings) -> worker.Build:
    async def start() -> tuple[worker.Tasks, worker.Cleanup]:
        engine, redis, close = worker.open_resources(settings, application_name="catalog-worker")
        # Invalidations go to the cache server, events to the streams server.
        cache_redis = create_redis(settings, cache=True) if settings.cache_redis_url else redis

        async def cleanup() -> None:
            if cache_redis is not redis:
                await cache_redis.aclose()
            await close()

        cache = ProductCache(
            cache_redis,
            product_ttl_seconds=settings.product_cache_ttl_seconds,
            list_ttl_seconds=settings.cache_ttl_seconds,
            fill_wait_seconds=settings.cache_fill_wait_seconds,
        )
        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            redis=redis,
            stream=events_stream("catalog"),
            settings=settings.events,
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

        return [relay.run(), stock.run()], cleanup

    return start


def main() -> None:
    settings = CatalogSettings()
    worker.main("catalog", settings, build(settings), metrics_port=settings.worker_metrics_port)


if __name__ == "__main__":
    main()
