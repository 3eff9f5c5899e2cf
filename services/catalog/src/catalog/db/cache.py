"""Cache-aside for product pages and lists in Redis, with versioned keys.

Every entry key ends in a generation number read from Redis in the same round trip as the
entry. A write bumps the generation after its transaction commits, so the next read
misses and sees the new data: no stale read after a write returns, and no race where a
slow reader stores old data under the new key. Generations never expire (they are tiny);
entries expire after a TTL (product pages 5 minutes, lists 30 s by default). Concurrent
misses for one key are collapsed: within a process by a shared future, across replicas by
a short Redis lock that others wait on.
Any Redis failure degrades to reading the database.

An entry holds the page's strong ETag followed by its JSON body, both computed once when
the entry is filled: a hit hashes nothing (see `Entry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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


# A hit only: the fast path (catalog.api.fast_reads) peeks and leaves misses, and their
# fill lock, to the route.
_PEEK = """
local generation = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. generation)
"""
ETAG_LENGTH = 26  # '"' + 24 hex digits + '"'


def etag_of(body: str) -> str:
    """The strong ETag of a body: a hash of it, so every replica gives the same one."""
    return '"' + hashlib.blake2b(body.encode(), digest_size=12).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached page: its ETag and its JSON body."""

    etag: str
    body: str

    @classmethod
    def of(cls, body: str) -> Entry:
        return cls(etag_of(body), body)

    @classmethod
    def stored(cls, value: str) -> Entry:
        # Entries written before ETags were stored with them are the bare JSON body.
        if value.startswith('"'):
            return cls(value[:ETAG_LENGTH], value[ETAG_LENGTH:])
        return cls.of(value)

    def encode(self) -> str:
        return self.etag + self.body


def _product_generation(product_id: int) -> str:
    return f"{PREFIX}:product:{product_id}:generation"


def _product_prefix(product_id: int) -> str:
    return f"{PREFIX}:product:{product_id}:v"


def _list_prefix(query: str) -> str:
    digest = hashlib.blake2b(query.encode(), digest_size=16).hexdigest()
    return f"{PREFIX}:products:list:{digest}:v"


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
        self._peek = redis.register_script(_PEEK)
        # The fill lock outlives a normal rebuild by far; it only matters if its holder dies.
        self._lock_ms = int(fill_wait_seconds * 4000)
        self._inflight: dict[str, asyncio.Future[Entry | None]] = {}

    async def product(
        self, product_id: int, compute: Callable[[], Awaitable[str | None]]
    ) -> str | None:
        entry = await self.product_entry(product_id, compute)
        return None if entry is None else entry.body

    async def product_list(self, query: str, compute: Callable[[], Awaitable[str]]) -> str:
        return (await self.list_entry(query, compute)).body

    async def product_entry(
        self, product_id: int, compute: Callable[[], Awaitable[str | None]]
    ) -> Entry | None:
        return await self._get(
            _product_generation(product_id),
            _product_prefix(product_id),
            compute,
            ttl=self.product_ttl,
        )

    async def list_entry(self, query: str, compute: Callable[[], Awaitable[str]]) -> Entry:
        """The list page of `query`, a canonical string of everything the page depends on."""
        entry = await self._get(LIST_GENERATION, _list_prefix(query), compute, ttl=self.list_ttl)
        assert entry is not None
        return entry

    async def peek_product(self, product_id: int) -> Entry | None:
        """The cached product page, or None on a miss; one round trip, raises RedisError."""
        return await self._peek_entry(_product_generation(product_id), _product_prefix(product_id))

    async def peek_list(self, query: str) -> Entry | None:
        """The cached list page of `query`, or None on a miss; raises RedisError."""
        return await self._peek_entry(LIST_GENERATION, _list_prefix(query))

    async def _peek_entry(self, generation_key: str, entry_prefix: str) -> Entry | None:
        value = await self._peek(keys=[generation_key], args=[entry_prefix])
        return None if value is None else Entry.stored(value)

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
    ) -> Entry | None:
        try:
            generation, cached, leader = await self._read(
                keys=[generation_key], args=[entry_prefix, self._lock_ms]
            )
        except RedisError:
            log.warning("product cache unavailable; reading the database", exc_info=True)
            body = await compute()
            return None if body is None else Entry.of(body)
        if cached is not None:
            return Entry.stored(cached)
        key = f"{entry_prefix}{generation}"
        if leader:
            # The lock holder always rebuilds, even if a request of this process that
            # lost the lock got here first and waits: that one waits for this fill.
            return await self._shared(key, lambda: self._fill(key, compute, ttl))
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key])
        return await self._shared(key, lambda: self._wait_for_fill(key, compute))

    async def _shared(self, key: str, work: Callable[[], Awaitable[Entry | None]]) -> Entry | None:
        """Run `work`; requests of this process that miss `key` meanwhile share its result."""
        if key in self._inflight:
            return await work()
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
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
    ) -> Entry | None:
        """Rebuild the entry, store it and release the fill lock in one round trip."""
        try:
            body = await compute()
        except BaseException:
            # Let the others stop waiting: one of them rebuilds it instead.
            with contextlib.suppress(RedisError):
                await self.redis.delete(f"{key}:filling")
            raise
        entry = None if body is None else Entry.of(body)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                if entry is not None:
                    pipe.set(key, entry.encode(), ex=ttl)
                pipe.delete(f"{key}:filling")
                await pipe.execute()
        except RedisError:
            log.warning("could not fill the product cache", exc_info=True)
        return entry

    async def _wait_for_fill(
        self, key: str, compute: Callable[[], Awaitable[str | None]]
    ) -> Entry | None:
        """Another replica rebuilds the entry: wait for it a little, then read it ourselves."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.fill_wait
        try:
            while loop.time() < deadline:
                await asyncio.sleep(0.02)
                cached = await self.redis.get(key)
                if cached is not None:
                    return Entry.stored(str(cached))
        except RedisError:
            pass
        body = await compute()
        return None if body is None else Entry.of(body)
