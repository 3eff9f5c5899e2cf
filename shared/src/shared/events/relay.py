"""The relay: publishes outbox rows to the service's stream in id order.

Each batch is one transaction whose one statement takes a transaction-scoped advisory
lock and marks the batch, so relays on the same outbox (one per replica) publish one
batch at a time, in order, and a relay that dies mid-batch releases the lock with its
connection. Rows are marked
published in that transaction, which commits only after Redis accepted them: a crash in
between publishes them twice (consumers dedupe), a Redis outage rolls the marks back and
the rows wait. NOTIFY wakes an idle relay at once; a poll interval covers a lost LISTEN
connection.
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Boolean, Table, Text, and_, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.metrics import EVENTS_PUBLISHED
from shared.events.outbox import Outbox, notify_channel
from shared.events.pg import Wakeup, asyncpg_dsn
from shared.events.retention import prune_outbox, trim_stream
from shared.events.settings import EventSettings
from shared.events.stats import refresh_outbox_gauge
from shared.events.streams import entry_fields
from shared.runtime import raise_if_cancelled

log = logging.getLogger(__name__)


class OutboxRelay:
    """Moves committed outbox rows to `stream`; run one per replica with `await run()`."""

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
        self.wakeup = Wakeup(asyncpg_dsn(engine.url), notify_channel(outbox.schema))
        self._next_maintenance = 0.0
        # Built once: a pass runs it several times per order (a statement built per call
        # is built and given a cache key again every time: docs/checkout.md).
        table = self.table
        # The relay lock, and no fsync at this commit (losing it in a crash only publishes
        # the rows again), as an InitPlan: evaluated once, before any row is marked.
        held = func.pg_try_advisory_xact_lock(
            func.hashtext(f"{outbox.schema}.outbox"), type_=Boolean
        )
        no_fsync = func.set_config("synchronous_commit", "off", True).is_not(None)
        gate = select(and_(held, no_fsync)).scalar_subquery()
        oldest = (
            select(table.c.id)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.id)
            .limit(settings.relay_batch_size)
        )
        # Lock and marks in one statement, the marks in the pass's transaction (if Redis
        # fails, the rollback unmarks them). The statement's snapshot is older than the
        # lock: rows another relay marked in between are still unmarked in it, so the
        # outer `published_at IS NULL` is checked again on each row's latest version
        # (READ COMMITTED re-checks an updated row) and skips them.
        self._mark = (
            update(table)
            .where(gate, table.c.published_at.is_(None), table.c.id.in_(oldest.scalar_subquery()))
            .values(published_at=func.now())
            # As text: PostgreSQL renders the JSON, Python need not parse it.
            .returning(
                table.c.id,
                table.c.event_id,
                table.c.type,
                table.c.envelope.cast(Text).label("envelope_json"),
            )
        )

    async def run(self) -> None:
        """Publish until cancelled; errors of Redis or PostgreSQL only delay publication."""
        try:
            while True:
                raise_if_cancelled()
                # Cleared before draining: a NOTIFY that arrives meanwhile triggers another pass.
                self.wakeup.event.clear()
                await self.wakeup.ensure_listening()
                try:
                    await self.publish_pending()
                    await self._maintain()
                except (RedisError, SQLAlchemyError, OSError) as exc:
                    log.warning("relay of %s paused: %s", self.stream, exc)
                    # Not woken by every commit while Redis or PostgreSQL is down.
                    await asyncio.sleep(self.settings.relay_poll_interval_seconds)
                    continue
                await self.wakeup.wait(self.settings.relay_poll_interval_seconds)
        finally:
            await self.wakeup.close()

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
        """Publish the oldest unpublished rows in one transaction; returns how many."""
        async with self.engine.begin() as conn:
            # None marked: nothing to publish, or another relay holds the lock (it drains
            # what we were woken for).
            marked = await conn.execute(self._mark)
            rows = sorted(marked.all(), key=lambda row: row.id)
            if not rows:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for row in rows:
                fields = entry_fields(
                    event_id=str(row.event_id), event_type=row.type, envelope_json=row.envelope_json
                )
                pipe.xadd(self.stream, fields)  # type: ignore[arg-type]
            await pipe.execute()
        EVENTS_PUBLISHED.labels(self.stream).inc(len(rows))
        return len(rows)

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
