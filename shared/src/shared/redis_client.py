"""Redis client factory (one pool per process)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from shared.settings import ServiceSettings

# One retry of a command that hit a broken connection or a timeout (a Redis restart
# leaves stale pooled connections): more would multiply the wait on a Redis that is slow
# or gone, and every caller already copes with an error (fallback, redelivery).
RETRIES = 1


def create_redis(settings: ServiceSettings, *, cache: bool = False) -> Redis:
    """The streams server's client, or with `cache` the cache server's (the same server
    unless `cache_redis_url` is set), as the service's own ACL user when one is set."""
    url = settings.cache_redis_url if cache and settings.cache_redis_url else settings.redis_url
    credentials: dict[str, Any] = {}
    if settings.redis_username:
        credentials = {
            "username": settings.redis_username,
            "password": settings.redis_password.get_secret_value() or None,
        }
    return Redis.from_url(
        url.get_secret_value(),
        **credentials,
        decode_responses=True,
        socket_connect_timeout=2,
        # Bounded like every wait on a dependency; above the consumers' XREADGROUP BLOCK.
        socket_timeout=settings.redis_timeout_seconds,
        retry=Retry(ExponentialWithJitterBackoff(), RETRIES),
        health_check_interval=30,
    )
