"""Cache-aside for product pages and lists in Redis, with versioned keys.

Every entry key ends in a generation number read from Redis in the same round trip as the
entry. A write bumps the generation after its transaction commits, so the next read
misses and sees the new data: no stale read after a write returns, and no race where a
slow reader stores old data under the new key. Generations never expire (they are tiny);
entries expire after a TTL (product pages 5 minutes, lists 30 s by default). Concurrent
misses for one key are collapsed: within a process by a shared future, across replicas by
a short Redis lock that others wait on.
Any Redis failure degrades to reading the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "catalog:cache"
LIST_GENERATION = f"{PREFIX}:products:generation"

# One round trip per read. Returns {generation, entry, leader}: the entry key is
# ARGV[1] .. generation; on a miss the script also tries the fill lock (SET NX, ARGV[2]
# ms), and `leader` says this reader got it: it rebuilds the entry, the others wait.
_READ = """
local generation = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. generation
local entry = redis.call('GET', key)
if entry then
  return {generation, entry, 0}
end
local leader = redis.call('SET', key .. ':filling', '1', 'NX', 'PX', ARGV[2])
return {generation, false, leader and 1 or 0}
"""


def _product_generation(product_id: int) -> str:
    return f"{PREFIX}:product:{product_id}:generation"


class ProductCache:
    def __init__(
        self,
        redis: Redis,
        *,
        product_ttl_seconds: int,
        list_ttl_seconds: int,
        fill_wait_seconds: float,
    ) -> None:
        self.redis = redis
        self.product_ttl = product_ttl_seconds
        self.list_ttl = list_ttl_seconds
        self.fill_wait = fill_wait_seconds
        self._read = redis.register_script(_READ)
        # The fill lock outlives a normal rebuild by far; it only matters if its holder dies.
        self._lock_ms = int(fill_wait_seconds * 4000)
        self._inflight: dict[str, asyncio.Future[str | None]] = {}

    async def product(
        self, product_id: int, compute: Callable[[], Awaitable[str | None]]
    ) -> str | None:
        return await self._get(
            _product_generation(product_id),
            f"{PREFIX}:product:{product_id}:v",
            compute,
            ttl=self.product_ttl,
        )

    async def product_list(self, query: str, compute: Callable[[], Awaitable[str]]) -> str:
        digest = hashlib.blake2b(query.encode(), digest_size=16).hexdigest()
        body = await self._get(
            LIST_GENERATION, f"{PREFIX}:products:list:{digest}:v", compute, ttl=self.list_ttl
        )
        assert body is not None
        return body

    async def invalidate(self, *product_ids: int) -> None:
        """Make the next read of these products and of every list miss."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for product_id in product_ids:
                    pipe.incr(_product_generation(product_id))
                pipe.incr(LIST_GENERATION)
                await pipe.execute()
        except RedisError:
            # Entries expire within the TTL; log loudly, it is the only staleness window.
            log.exception("product cache invalidation failed")

    async def _get(
        self,
        generation_key: str,
        entry_prefix: str,
        compute: Callable[[], Awaitable[str | None]],
        *,
        ttl: int,
    ) -> str | None:
        try:
            generation, cached, leader = await self._read(
                keys=[generation_key], args=[entry_prefix, self._lock_ms]
            )
        except RedisError:
            log.warning("product cache unavailable; reading the database", exc_info=True)
            return await compute()
        if cached is not None:
            return str(cached)
        key = f"{entry_prefix}{generation}"
        if leader:
            # The lock holder always rebuilds, even if a request of this process that
            # lost the lock got here first and waits: that one waits for this fill.
            return await self._shared(key, lambda: self._fill(key, compute, ttl))
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key])
        return await self._shared(key, lambda: self._wait_for_fill(key, compute))

    async def _shared(self, key: str, work: Callable[[], Awaitable[str | None]]) -> str | None:
        """Run `work`; requests of this process that miss `key` meanwhile share its result."""
        if key in self._inflight:
            return await work()
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            body = await work()
            future.set_result(body)
            return body
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._inflight[key]

    async def _fill(
        self, key: str, compute: Callable[[], Awaitable[str | None]], ttl: int
    ) -> str | None:
        """Rebuild the entry, store it and release the fill lock in one round trip."""
        try:
            body = await compute()
        except BaseException:
            # Let the others stop waiting: one of them rebuilds it instead.
            with contextlib.suppress(RedisError):
                await self.redis.delete(f"{key}:filling")
            raise
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                if body is not None:
                    pipe.set(key, body, ex=ttl)
                pipe.delete(f"{key}:filling")
                await pipe.execute()
        except RedisError:
            log.warning("could not fill the product cache", exc_info=True)
        return body

    async def _wait_for_fill(
        self, key: str, compute: Callable[[], Awaitable[str | None]]
    ) -> str | None:
        """Another replica rebuilds the entry: wait for it a little, then read it ourselves."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.fill_wait
        try:
            while loop.time() < deadline:
                await asyncio.sleep(0.02)
                cached = await self.redis.get(key)
                if cached is not None:
                    return str(cached)
        except RedisError:
            pass
        return await compute()
