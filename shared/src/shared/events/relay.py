"""The relay: publishes outbox rows to the service's stream in id order.

Each relay (one per worker replica) has a PostgreSQL connection of its own, outside the
engine's pool, on which it LISTENs for the outbox's NOTIFY and holds the relay lock: a
session-level advisory lock, taken at its first pass and kept while the connection
lives, so one relay publishes at a time, in order, and another takes over when its
connection ends (the process stopped or died, PostgreSQL restarted) or when it fails to
publish (it lets the lock go). A pass is two statements in autocommit on that
connection: read the oldest unpublished rows, XADD them in one pipeline, mark them
published. A crash between the XADD and the marks publishes them twice (consumers
dedupe); a Redis outage leaves them unmarked, to wait. A poll interval covers a lost
notification. (Before 2026-12-03 a pass was a transaction on a pooled connection with a
transaction-scoped lock: BEGIN, the lock and the marks in one statement, COMMIT after the
XADD: docs/events.md.)
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.metrics import EVENTS_PUBLISHED
from shared.events.outbox import Outbox, notify_channel
from shared.events.pg import CONNECTION_ERRORS, ListeningConnection, asyncpg_dsn
from shared.events.retention import prune_outbox, trim_stream
from shared.events.settings import EventSettings
from shared.events.stats import refresh_outbox_gauge
from shared.events.streams import entry_fields
from shared.runtime import raise_if_cancelled

log = logging.getLogger(__name__)

# The statements of a pass run on the relay's own asyncpg connection, as SQL: they are
# the relay's only ones, and each order makes several passes (a statement through a
# session cost ~4 times its round trip in CPU on the dev machines: docs/checkout.md).
_LOCK = "SELECT pg_try_advisory_lock(hashtext($1))"
_READ = """SELECT id, event_id, type, envelope::text AS envelope_json FROM {outbox}
WHERE published_at IS NULL ORDER BY id LIMIT $1"""
_MARK = "UPDATE {outbox} SET published_at = now() WHERE id = ANY($1::bigint[])"


class OutboxRelay:
    """Moves committed outbox rows to `stream`; run one per replica with `await run()`,
    `close()` it when done (its connection holds the relay lock)."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        outbox: Outbox,
        redis: Redis,
        stream: str,
        settings: EventSettings,
    ) -> None:
        self.engine = engine
        self.table: Table = outbox.table
        self.redis = redis
        self.stream = stream
        self.settings = settings
        self.connection = ListeningConnection(
            asyncpg_dsn(engine.url),
            notify_channel(outbox.schema),
            application_name=f"{outbox.schema}-relay",
        )
        self._lock_name = f"{outbox.schema}.outbox"
        self._leading_on: asyncpg.Connection | None = None  # the connection holding the lock
        name = f'"{outbox.schema}"."{self.table.name}"'
        self._read = _READ.format(outbox=name)
        self._mark = _MARK.format(outbox=name)
        self._next_maintenance = 0.0

    async def run(self) -> None:
        """Publish until cancelled; errors of Redis or PostgreSQL only delay publication."""
        try:
            while True:
                raise_if_cancelled()
                # Cleared before draining: a NOTIFY that arrives meanwhile triggers another pass.
                self.connection.event.clear()
                try:
                    await self.publish_pending()
                    await self._maintain()
                except (RedisError, SQLAlchemyError, *CONNECTION_ERRORS) as exc:
                    log.warning("relay of %s paused: %s", self.stream, exc)
                    # Not woken by every commit while Redis or PostgreSQL is down.
                    await asyncio.sleep(self.settings.relay_poll_interval_seconds)
                    continue
                await self.connection.wait(self.settings.relay_poll_interval_seconds)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the relay's connection, which releases the relay lock."""
        self._leading_on = None
        await self.connection.close()

    async def publish_pending(self) -> int:
        """Publish batches until the backlog is gone (or another relay holds the lock)."""
        total = 0
        while True:
            published = await self.publish_batch()
            total += published
            # A short batch emptied the backlog; later commits NOTIFY, so no extra query.
            if published < self.settings.relay_batch_size:
                return total

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows, if this relay holds the relay lock (else
        another relay drains what we were woken for); returns how many."""
        try:
            conn = await self._leading()
            if conn is None:
                return 0
            rows = await conn.fetch(self._read, self.settings.relay_batch_size)
            if not rows:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for row in rows:
                fields = entry_fields(
                    event_id=str(row["event_id"]),
                    event_type=row["type"],
                    envelope_json=row["envelope_json"],
                )
                pipe.xadd(self.stream, fields)  # type: ignore[arg-type]
            await pipe.execute()
            await conn.execute(self._mark, [row["id"] for row in rows])
        except (RedisError, *CONNECTION_ERRORS):
            # The lock is given up with the connection: another replica's relay, whose
            # Redis or PostgreSQL may be reachable, can publish meanwhile; this one
            # connects and tries for the lock again at its next pass.
            await self.close()
            raise
        EVENTS_PUBLISHED.labels(self.stream).inc(len(rows))
        return len(rows)

    async def _leading(self) -> asyncpg.Connection | None:
        """The relay's connection, if it holds the relay lock: taken once per connection,
        held until the connection ends; None while another relay's connection holds it."""
        conn = await self.connection.connect()
        if self._leading_on is not conn:
            if not await conn.fetchval(_LOCK, self._lock_name):
                return None
            self._leading_on = conn
        return conn

    async def _maintain(self) -> None:
        """Run housekeeping once per maintenance interval."""
        if time.monotonic() < self._next_maintenance:
            return
        self._next_maintenance = time.monotonic() + self.settings.maintenance_interval_seconds
        try:
            await self._prune_trim_measure()
        except (RedisError, SQLAlchemyError, OSError):
            raise
        except Exception:  # housekeeping must never stop publication
            log.exception("relay maintenance of %s failed", self.stream)

    async def _prune_trim_measure(self) -> None:
        """Prune the archive, trim the stream, refresh the backlog gauge."""
        await prune_outbox(
            self.engine, self.table, retention_s=self.settings.outbox_retention_seconds
        )
        await trim_stream(
            self.redis,
            self.stream,
            retention_s=self.settings.stream_retention_seconds,
            margin_s=self.settings.stream_trim_margin_seconds,
        )
        await refresh_outbox_gauge(self.engine, self.table)
