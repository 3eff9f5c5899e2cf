"""Raw asyncpg connections next to a SQLAlchemy engine (LISTEN needs its own connection)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)


def asyncpg_dsn(url: URL) -> str:
    """The asyncpg DSN of a `postgresql+asyncpg://` SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Wakeup:
    """An asyncio.Event set by NOTIFY on a channel; without a connection, only timeouts wake."""

    def __init__(self, dsn: str, channel: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self.event = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    def _notified(self, *_: object) -> None:
        self.event.set()

    async def ensure_listening(self) -> None:
        """(Re)connect and LISTEN; on failure the caller keeps polling and tries again later."""
        if self._conn is not None and not self._conn.is_closed():
            return
        try:
            self._conn = await asyncpg.connect(self.dsn)
            await self._conn.add_listener(self.channel, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN on %s, polling instead: %s", self.channel, exc)
            await self.close()

    async def wait(self, seconds: float) -> None:
        """Return on the next notification or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except (OSError, TimeoutError, asyncpg.PostgresError):
                conn.terminate()
