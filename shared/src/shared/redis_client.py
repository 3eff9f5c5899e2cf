"""Redis client factory (one pool per process)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from shared.settings import ServiceSettings

# One retry of a command that hit a broken connection or a timeout (a Redis restart
# leaves stale pooled connections): more would multiply the wait on a Redis that is slow
# or gone, and every caller already copes with an error (fallback, redelivery).
RETRIES = 1


def create_redis(settings: ServiceSettings) -> Redis:
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        socket_connect_timeout=2,
        # Bounded like every wait on a dependency; above the consumers' XREADGROUP BLOCK.
        socket_timeout=settings.redis_timeout_seconds,
        retry=Retry(ExponentialWithJitterBackoff(), RETRIES),
        health_check_interval=30,
    )
