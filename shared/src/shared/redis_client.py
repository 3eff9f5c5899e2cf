"""Redis client factory (one pool per process)."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.settings import ServiceSettings


def create_redis(settings: ServiceSettings) -> Redis:
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        socket_connect_timeout=2,
        # Bounded like every wait on a dependency; above the consumers' XREADGROUP BLOCK.
        socket_timeout=settings.redis_timeout_s,
        health_check_interval=30,
    )
