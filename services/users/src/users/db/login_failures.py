"""Failed-login counters in Redis, per account and per client address.

Without Redis the limiter fails open: logins are checked by password alone (bcrypt's
cost and the gateway's per-address limit on /api/auth/login still slow guessing), so a
Redis outage does not lock every customer out. Each opening is logged as a warning.
"""

from __future__ import annotations

import hashlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def _key(kind: str, value: str) -> str:
    # Hashed so that Redis holds no email addresses.
    digest = hashlib.sha256(value.casefold().encode()).hexdigest()[:32]
    return f"users:login-failures:{kind}:{digest}"


class LoginFailures:
    """Fixed-window counters: `limit` failures within `window` seconds lock the key out
    for the rest of the window."""

    def __init__(self, redis: Redis, *, window: int, per_account: int, per_address: int) -> None:
        self.redis = redis
        self.window = window
        self.limits = {"account": per_account, "address": per_address}

    async def seconds_locked(self, *, email: str, address: str) -> int:
        """0 if a login may be tried now, else how long until it may."""
        keys = {"account": _key("account", email), "address": _key("address", address)}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys.values():
                    pipe.get(key)
                    pipe.ttl(key)
                results = await pipe.execute()
        except RedisError as exc:
            log.warning("login limiter open, Redis unavailable: %s", exc)
            return 0
        wait = 0
        for i, kind in enumerate(keys):
            count, ttl = results[2 * i], results[2 * i + 1]
            if count is not None and int(count) >= self.limits[kind]:
                wait = max(wait, ttl if ttl > 0 else self.window)
        return wait

    async def record_failure(self, *, email: str, address: str) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in (_key("account", email), _key("address", address)):
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            log.warning("login failure not counted, Redis unavailable: %s", exc)

    async def clear_account(self, *, email: str) -> None:
        try:
            await self.redis.delete(_key("account", email))
        except RedisError as exc:
            log.warning("login failures not cleared, Redis unavailable: %s", exc)
