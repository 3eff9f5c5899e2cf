"""Wait for an order's status to change, woken by PostgreSQL NOTIFY.

A row trigger on `orders.orders` (migration 0006) sends `pg_notify('orders_status',
'<id>')` in the transaction that changes an order's status, so the notification arrives
exactly when the change commits (and not at all if it rolls back), from whichever process
made it: an API replica or a worker. Each API replica keeps one LISTEN connection and
wakes its waiting requests.
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

CHANNEL = "orders_status"
log = logging.getLogger(__name__)


class StatusWatch:
    def __init__(self, engine: AsyncEngine) -> None:
        self.dsn = asyncpg_dsn(engine.url)
        self._waiters: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            for event in self._waiters.get(int(payload), ()):
                event.set()

    async def start(self) -> None:
        """LISTEN now, rather than at the first long poll (which retries if this failed)."""
        await self._listen()

    async def _listen(self) -> bool:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return True
            try:
                self._conn = await asyncpg.connect(self.dsn)
                await self._conn.add_listener(CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot LISTEN for order status changes: %s", exc)
                self._conn = None
                return False
            return True

    @contextlib.asynccontextmanager
    async def watching(self, order_id: int) -> AsyncIterator[asyncio.Event | None]:
        """An event set when the order changes (None if LISTEN is unavailable). Register
        before re-reading the order, so no change slips in between."""
        event = asyncio.Event()
        self._waiters[order_id].add(event)
        try:
            listening = await self._listen()
            yield event if listening else None
        finally:
            self._waiters[order_id].discard(event)
            if not self._waiters[order_id]:
                del self._waiters[order_id]

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=2)
