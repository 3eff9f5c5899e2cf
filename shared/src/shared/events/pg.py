"""Raw asyncpg connections next to a SQLAlchemy engine (LISTEN needs its own connection)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from sqlalchemy.engine import URL


def asyncpg_dsn(url: URL) -> str:
    """The asyncpg DSN of a `postgresql+asyncpg://` SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# A connection of one's own has the engines' bounds (ServiceSettings' defaults).
CONNECT_TIMEOUT_SECONDS = 3.0
COMMAND_TIMEOUT_SECONDS = 10.0
# What ends an asyncpg connection's work: the server or the network gone, or a timeout.
CONNECTION_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class ListeningConnection:
    """A connection of its own, outside the engine's pool, that LISTENs on a channel:
    `event` is set by each NOTIFY, and statements that need a session of their own (a
    session-level advisory lock) run on it. Connected at first use and again after it
    was closed or lost."""

    def __init__(self, dsn: str, channel: str, *, application_name: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self.application_name = application_name
        self.event = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    def _notified(self, *_: object) -> None:
        self.event.set()

    async def connect(self) -> asyncpg.Connection:
        """The connection, LISTENing; (re)connected if it was closed. Raises one of
        `CONNECTION_ERRORS` if PostgreSQL cannot be reached."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        conn = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=COMMAND_TIMEOUT_SECONDS,
            # Losing a commit of this connection in a crash only repeats its work (the
            # relay publishes the rows again; consumers dedupe): no fsync wait per commit.
            server_settings={
                "application_name": self.application_name,
                "synchronous_commit": "off",
            },
        )
        try:
            await conn.add_listener(self.channel, self._notified)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    async def wait(self, seconds: float) -> None:
        """Return on the next notification or after `seconds`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except CONNECTION_ERRORS:
                conn.terminate()
