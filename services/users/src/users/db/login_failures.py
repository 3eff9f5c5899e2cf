"""Failed-login throttling in Redis: per (account, address), per address, per account.

- Per (account, address): the first `free` failures cost nothing (typos); each one after
  makes that address wait before its next try on that account, doubling from `base`
  seconds up to `max_delay`. A stranger guessing slows only themselves down: the owner,
  from another address, is never refused the right password.
- Per address: `per_address` failures within `window` (over any accounts) refuse that
  address for the rest of the window (one machine spraying many accounts).
- Per account: `per_account` failures within `window` from all addresses together stop
  distributed guessing. It is set far above what one address can reach, and an address
  where this account logged in successfully in the last `known_for` seconds passes it.

Without Redis the limiter fails open: logins are checked by password alone (bcrypt's
cost and the gateway's per-address limit on /api/auth/login still slow guessing), so a
Redis outage does not lock every customer out. Each opening is logged as a warning.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "users:login-failures"


def _digest(*values: str) -> str:
    # Hashed so that Redis holds no email addresses.
    return hashlib.sha256("\0".join(v.casefold() for v in values).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    window: int
    per_account: int
    per_address: int
    free: int
    base: float
    max_delay: int
    known_for: int


class LoginFailures:
    """The three counters; `seconds_locked` says whether a login may be tried now."""

    def __init__(self, redis: Redis, settings: ThrottleSettings) -> None:
        self.redis = redis
        self.settings = settings

    @staticmethod
    def _keys(email: str, address: str) -> dict[str, str]:
        return {
            "pair": f"{PREFIX}:pair:{_digest(email, address)}",
            "address": f"{PREFIX}:address:{_digest(address)}",
            "account": f"{PREFIX}:account:{_digest(email)}",
            "known": f"users:login-known:{_digest(email, address)}",
        }

    def delay_after(self, failures: int) -> float:
        """Seconds an address waits after its `failures`-th failure on one account."""
        extra = failures - self.settings.free
        if extra <= 0:
            return 0.0
        delay: float = self.settings.base * 2.0 ** min(extra - 1, 32)
        return min(delay, float(self.settings.max_delay))

    async def seconds_locked(self, *, email: str, address: str) -> int:
        """0 if a login may be tried now, else how long until it may."""
        keys = self._keys(email, address)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hget(keys["pair"], "next_at")
                for kind in ("address", "account"):
                    pipe.get(keys[kind])
                    pipe.ttl(keys[kind])
                pipe.exists(keys["known"])
                replies = await pipe.execute()
        except RedisError as exc:
            log.warning("login limiter open, Redis unavailable: %s", exc)
            return 0
        next_at, by_address, address_ttl, by_account, account_ttl, known = replies
        wait = 0.0
        if next_at is not None:
            wait = max(wait, float(next_at) - time.time())
        limits = self.settings
        if by_address is not None and int(by_address) >= limits.per_address:
            wait = max(wait, address_ttl if address_ttl > 0 else limits.window)
        if by_account is not None and int(by_account) >= limits.per_account and not known:
            wait = max(wait, account_ttl if account_ttl > 0 else limits.window)
        return math.ceil(wait) if wait > 0 else 0

    async def record_failure(self, *, email: str, address: str) -> None:
        try:
            await self._count_failure(email=email, address=address)
        except RedisError as exc:
            log.warning("login failure not counted, Redis unavailable: %s", exc)

    async def _count_failure(self, *, email: str, address: str) -> None:
        keys = self._keys(email, address)
        window = self.settings.window
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(keys["pair"], "count", 1)
            for kind in ("address", "account"):
                pipe.incr(keys[kind])
                pipe.expire(keys[kind], window, nx=True)
            failures = int((await pipe.execute())[0])
        delay = self.delay_after(failures)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys["pair"], "next_at", str(time.time() + delay))
            # The pair's count outlives a wait: guessing on resumes where it stopped.
            pipe.expire(keys["pair"], max(window, math.ceil(delay)))
            await pipe.execute()

    async def record_success(self, *, email: str, address: str) -> None:
        """The owner got in from here: forget this address's failures on the account and
        remember the address, so distributed guessing cannot lock it out."""
        keys = self._keys(email, address)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(keys["pair"])
                pipe.set(keys["known"], "1", ex=self.settings.known_for)
                await pipe.execute()
        except RedisError as exc:
            log.warning("login success not recorded, Redis unavailable: %s", exc)
