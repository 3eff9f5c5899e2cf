"""Wait for a row to change, woken by PostgreSQL NOTIFY.

A row trigger sends `pg_notify(<channel>, '<key>')` in the transaction that changes the
row, so the notification arrives exactly when the change commits (and not at all if it
rolls back), from whichever process made it. Each API replica keeps one LISTEN
connection per watch and wakes the requests waiting for that key: the orders service's
long polls (channel `orders_status`, an order's status), and payments waiting for its
replica of an order (`payments_orders`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.pg import asyncpg_dsn

log = logging.getLogger(__name__)


class RowWatch:
    """Requests waiting for rows keyed by an integer id, on one NOTIFY channel."""

    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self.dsn = asyncpg_dsn(engine.url)
        self.channel = channel
        self._waiters: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            for event in self._waiters.get(int(payload), ()):
                event.set()

    async def start(self) -> None:
        """LISTEN now, rather than at the first wait (which retries if this failed)."""
        await self._listen()

    async def _listen(self) -> bool:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return True
            try:
                self._conn = await asyncpg.connect(self.dsn)
                await self._conn.add_listener(self.channel, self._notified)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot LISTEN on %s: %s", self.channel, exc)
                self._conn = None
                return False
            return True

    @contextlib.asynccontextmanager
    async def watching(self, key: int) -> AsyncIterator[asyncio.Event | None]:
        """An event set when the row changes (None if LISTEN is unavailable). Register
        before reading the row, so no change slips in between."""
        event = asyncio.Event()
        self._waiters[key].add(event)
        try:
            listening = await self._listen()
            yield event if listening else None
        finally:
            self._waiters[key].discard(event)
            if not self._waiters[key]:
                del self._waiters[key]

    def waiting(self, key: int) -> int:
        """How many requests wait for `key` now (tests wait for them to register)."""
        return len(self._waiters.get(key, ()))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=2)
