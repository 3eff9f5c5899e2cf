"""The consumer: one consumer group per consuming service on each stream it reads.

Delivery is at least once. A batch is handled in one transaction holding the inbox
rows and the handlers' writes (a failing entry is dropped from the batch, which is then
tried again), and entries are acknowledged only after the commit. Entries left pending
(a handler failed, or a consumer died) are re-tried through XAUTOCLAIM once idle for
`claim_idle_seconds`; after `max_deliveries` they are copied to the dead-letter stream and
acknowledged, so the entries behind them keep flowing. A delivery that ended on the
infrastructure (PostgreSQL or Redis gone or refusing, every pooled connection busy, the
consumer stopped) is given back: it does not count towards `max_deliveries`.

Two kinds of route run apart from the batch's transaction, as they come: a task (it opens
its own transactions) and an autocommit handler (one idempotent statement, which is its
own transaction). Neither writes an inbox row; both are run again when their batch is.

With `consumer_max_in_flight` > 1 the consumer keeps that many entries in flight, each
handled alone in its own transaction (or, for a task route, its own transactions) and
acknowledged as soon as it is done, so one slow entry holds back no other; entries of the
same aggregate (an order) still run one after another, in stream order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from asgi_correlation_id import correlation_id
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import StreamIdT
from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from shared.db import autocommit, commit, database_unavailable, rollback
from shared.events.dead_letters import dead_letter_fields
from shared.events.envelope import Envelope
from shared.events.handlers import EventHandlers, Route
from shared.events.inbox import record_first_deliveries
from shared.events.metrics import EVENTS_HANDLED, EVENTS_UNKNOWN
from shared.events.retention import prune_inbox
from shared.events.settings import EventSettings
from shared.events.stats import refresh_stream_gauges
from shared.events.streams import StreamEntry, dead_letter_stream, parse_entries
from shared.runtime import raise_if_cancelled

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0


def aggregate_key(entry: StreamEntry) -> str | None:
    """The aggregate (order) an entry is about: its entries are handled in stream order."""
    try:
        key = json.loads(entry.envelope_json).get("aggregate_id")
    except (ValueError, AttributeError):
        return None
    return str(key) if key is not None else None


# Errors of Redis or PostgreSQL (asyncpg raises some as OSError or TimeoutError) only
# delay consumption: the loop backs off and polls again, the entries stay pending.
DELAYING_ERRORS = (RedisError, SQLAlchemyError, OSError, TimeoutError)


def outage(exc: BaseException) -> bool:
    """Whether handling failed on the shop's own infrastructure, not on the entry:
    PostgreSQL or Redis gone, restarting or refusing, every pooled connection busy, or
    the consumer being stopped. A dependency of the handler's own failing (a mail server,
    a payment provider) is the entry's failure: counted, and dead-lettered in the end."""
    if isinstance(exc, DBAPIError):
        return database_unavailable(exc)
    return isinstance(
        exc, asyncio.CancelledError | PoolTimeout | RedisConnectionError | RedisTimeoutError
    )


def default_consumer_name() -> str:
    """Unique per process; give a stable name (the replica's) to drain its own pending."""
    return f"{socket.gethostname()}-{os.getpid()}"


class _HandlerFailed(Exception):
    """A handler (or the parsing of its event) failed; its batch is rolled back."""

    def __init__(self, entry: StreamEntry, cause: Exception) -> None:
        super().__init__(entry.id)
        self.entry = entry
        self.error = f"{type(cause).__name__}: {cause}"


class StreamConsumer:
    """Reads `stream` as consumer group `group` (the consuming service's name)."""

    def __init__(
        self,
        *,
        redis: Redis,
        engine: AsyncEngine,
        inbox: Table,
        group: str,
        stream: str,
        handlers: EventHandlers,
        settings: EventSettings,
        name: str | None = None,
        key_of: Callable[[StreamEntry], str | None] = aggregate_key,
    ) -> None:
        self.redis = redis
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.autocommit_sessionmaker = async_sessionmaker(
            autocommit(engine), expire_on_commit=False
        )
        self.inbox = inbox
        self.group = group
        self.stream = stream
        self.dead_letter_stream = dead_letter_stream(group)
        self.handlers = handlers
        self.settings = settings
        self.name = name or default_consumer_name()
        self._next_claim = 0.0
        self._next_maintenance = 0.0
        self.key_of = key_of
        self.max_in_flight = settings.consumer_max_in_flight
        # Concurrent mode: the task of each entry in flight, the last task of each key.
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._finished = 0
        # Entries committed but not acknowledged yet: sent with the next XREADGROUP.
        self._acks: list[str] = []

    async def run(self) -> None:
        """Consume until cancelled; Redis or PostgreSQL errors only delay consumption."""
        started, failures = False, 0
        try:
            while True:
                raise_if_cancelled()
                try:
                    if not started:
                        await self.start()
                        started = True
                    await self.poll()
                    failures = 0
                except DELAYING_ERRORS as exc:
                    if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                        started = False  # Redis came back empty (or the stream was deleted)
                    failures += 1
                    delay = min(0.1 * 2**failures, MAX_BACKOFF_S)
                    log.warning("consumer %s paused %.1fs: %s", self.name, delay, exc)
                    await asyncio.sleep(delay)
        finally:
            # Entries in flight stay pending: this name drains them after a restart.
            await self.stop()

    async def stop(self) -> None:
        """Cancel the entries in flight (concurrent mode) and wait for them to end, then
        acknowledge what was committed (if Redis fails now, they are delivered again)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        acks, self._acks = self._acks, []
        if acks:
            with contextlib.suppress(RedisError, OSError):
                await self.redis.xack(self.stream, self.group, *acks)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        """Create the group if needed, then finish what this consumer name left pending."""
        try:
            # From id 0: a group created after events were published still gets them all.
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        await self._check_database()  # reading pending entries counts as a delivery
        cursor = "0"
        while entries := await self._read(cursor):
            deliveries = await self._delivery_counts(entries)
            if self.max_in_flight > 1:
                self._dispatch(entries, deliveries)
                await self._wait_for_room()
            else:
                await self.process(entries, deliveries)
            cursor = entries[-1].id
        if self._running:
            await asyncio.wait(list(self._running.values()))

    async def poll(self) -> int:
        """One step of the loop: re-try stale pending entries when due, then read new ones."""
        handled = 0
        if time.monotonic() >= self._next_claim:
            # Claiming counts as a delivery: claim only while the database can take them,
            # so an outage does not push entries towards the dead-letter stream.
            await self._check_database()
            self._next_claim = time.monotonic() + self.settings.claim_interval_seconds
            handled += await self.reclaim()
        if self.max_in_flight > 1:
            handled += await self._poll_concurrently()
        else:
            entries = await self._read(">", block_ms=self._block_ms)
            # First delivery of each; acknowledged with the next read, one round trip less.
            await self.process(entries, {}, ack_with_next_read=True)
            handled += len(entries)
        await self._maintain()
        return handled

    @property
    def _block_ms(self) -> int:
        """How long one XREADGROUP blocks, in Redis' milliseconds."""
        return max(1, round(self.settings.consumer_block_seconds * 1000))

    async def _poll_concurrently(self) -> int:
        """Start new entries while there is room, else wait for one in flight to end.

        Returns the entries started or finished in this step plus those still running,
        so a caller that polls until idle waits for the ones in flight too."""
        started = 0
        room = self.max_in_flight - len(self._running)
        if room > 0:
            entries = await self._read(">", block_ms=self._block_ms, count=room)
            self._dispatch(entries, {})  # first delivery of each
            started = len(entries)
        if self._running and (room <= 0 or not started):
            await asyncio.wait(
                list(self._running.values()),
                timeout=self.settings.consumer_block_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finished, self._finished = self._finished, 0
        return started + finished + len(self._running)

    def _dispatch(self, entries: list[StreamEntry], deliveries: dict[str, int]) -> None:
        """Start one task per entry; an entry of a key already in flight waits for it."""
        for entry in entries:
            if entry.id in self._running:
                continue  # reclaimed from ourselves while still being handled
            key = self.key_of(entry) if entry.fields is not None else None
            before = self._tails.get(key) if key is not None else None
            count = {entry.id: deliveries[entry.id]} if entry.id in deliveries else {}
            task = asyncio.create_task(self._handle_one(entry, count, before))
            self._running[entry.id] = task
            if key is not None:
                self._tails[key] = task
            task.add_done_callback(partial(self._forget, entry.id, key))

    def _forget(self, entry_id: str, key: str | None, task: asyncio.Task[None]) -> None:
        self._running.pop(entry_id, None)
        if key is not None and self._tails.get(key) is task:
            del self._tails[key]
        self._finished += 1

    async def _handle_one(
        self, entry: StreamEntry, deliveries: dict[str, int], before: asyncio.Task[None] | None
    ) -> None:
        if before is not None:
            async with self._given_back_on_outage([entry], deliveries):
                await asyncio.wait([before])  # the same order's earlier entry comes first
        try:
            await self.process([entry], deliveries)
        except DELAYING_ERRORS as exc:
            # Left pending: re-tried once idle, like an entry of a crashed consumer.
            log.warning("consumer %s left %s pending: %s", self.name, entry.id, exc)

    async def _wait_for_room(self) -> None:
        while len(self._running) >= self.max_in_flight:
            await asyncio.wait(list(self._running.values()), return_when=asyncio.FIRST_COMPLETED)

    async def reclaim(self) -> int:
        """Take over entries idle past `claim_idle_seconds` (dead consumer, failed handler)."""
        cursor, total = "0-0", 0
        while True:
            # Redis 7 adds a third element, the ids it dropped from the PEL as trimmed.
            cursor, raw, *_ = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.name,
                min_idle_time=round(self.settings.claim_idle_seconds * 1000),
                start_id=cursor,
                count=self.settings.consumer_batch_size,
            )
            entries = parse_entries(raw)
            if self.max_in_flight > 1:
                self._dispatch(entries, await self._delivery_counts(entries))
            else:
                await self.process(entries, await self._delivery_counts(entries))
            total += len(entries)
            if cursor == "0-0":
                return total

    async def process(
        self,
        entries: list[StreamEntry],
        deliveries: dict[str, int],
        *,
        ack_with_next_read: bool = False,
    ) -> None:
        """Handle a batch; ack what committed, dead-letter what failed too often. With
        `ack_with_next_read` the XACK waits for the loop's next XREADGROUP and goes in the
        same round trip (a consumer that dies first has them delivered again: every
        handler is idempotent)."""
        max_deliveries = self.settings.max_deliveries
        acks: list[str] = []
        batch: list[StreamEntry] = []
        for entry in entries:
            if entry.fields is None:
                acks.append(entry.id)  # trimmed while pending: nothing left to handle
            elif self.handlers.route(entry.event_type) is None:
                self._unhandled(entry)
                acks.append(entry.id)
            elif deliveries.get(entry.id, 1) > max_deliveries:
                # Earlier deliveries ended without a verdict: the consumer died on it.
                reason = f"no success in {max_deliveries} deliveries (consumer crashed?)"
                await self._dead_letter(entry, deliveries[entry.id], reason)
            else:
                batch.append(entry)
        async with self._given_back_on_outage(batch, deliveries):
            failures = await self._handle_batch(batch) if batch else {}
        for entry in batch:
            error = failures.get(entry.id)
            count = deliveries.get(entry.id, 1)
            if error is None:
                acks.append(entry.id)
            elif count >= max_deliveries:
                await self._dead_letter(entry, count, error)
            else:
                EVENTS_HANDLED.labels(self.stream, self.group, "failed").inc()
        if acks and ack_with_next_read:
            self._acks += acks
        elif acks:
            await self.redis.xack(self.stream, self.group, *acks)

    @contextlib.asynccontextmanager
    async def _given_back_on_outage(
        self, entries: list[StreamEntry], deliveries: dict[str, int]
    ) -> AsyncIterator[None]:
        """Un-count this delivery of `entries` if an outage cuts their handling short."""
        started = time.monotonic()
        try:
            yield
        except BaseException as exc:
            # A raw OSError or TimeoutError gets here only from the consumer's own
            # connections (asyncpg raises them unwrapped): a handler's are _HandlerFailed.
            if outage(exc) or isinstance(exc, OSError | TimeoutError):
                await self._give_back(entries, deliveries, time.monotonic() - started)
            raise

    async def _give_back(
        self, entries: list[StreamEntry], deliveries: dict[str, int], elapsed: float
    ) -> None:
        """XCLAIM to ourselves with each count as it was before this delivery; the minimum
        idle time (the time since handling began) skips an entry another consumer claimed
        meanwhile, whose delivery is that consumer's to count."""
        if not entries:
            return
        counts: dict[int, list[StreamIdT]] = {}
        for entry in entries:
            counts.setdefault(deliveries.get(entry.id, 1) - 1, []).append(entry.id)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for count, ids in counts.items():
                    pipe.xclaim(
                        self.stream,
                        self.group,
                        self.name,
                        min_idle_time=int(elapsed * 1000),
                        message_ids=ids,
                        retrycount=count,
                        justid=True,
                    )
                await pipe.execute()
        except RedisError as exc:  # then this delivery counts, as a crash's would
            log.warning(
                "consumer %s could not give back %d entries: %s", self.name, len(entries), exc
            )

    def _unhandled(self, entry: StreamEntry) -> None:
        """A type without a handler: `ignored` if the group declared it does not need it,
        else unknown (counted, logged) and acknowledged all the same: retrying cannot
        help a process that has no handler for it (docs/events.md, "Event contracts")."""
        if self.handlers.ignores(entry.event_type):
            EVENTS_HANDLED.labels(self.stream, self.group, "ignored").inc()
            return
        EVENTS_HANDLED.labels(self.stream, self.group, "unknown").inc()
        EVENTS_UNKNOWN.labels(self.stream, entry.event_type).inc()
        log.warning(
            "group %s has no handler for %s (entry %s of %s): acknowledged unhandled",
            self.group,
            entry.event_type,
            entry.id,
            self.stream,
        )

    async def _handle_batch(self, entries: list[StreamEntry]) -> dict[str, str]:
        """Handle entries in one transaction; returns the errors of those that failed.

        A failing handler rolls the whole transaction back, and the batch is tried again
        without that entry: the handlers before it run a second time (their first run
        was undone), and a failed entry leaves no trace, inbox row included.
        """
        failures: dict[str, str] = {}
        todo = list(entries)
        while todo:
            try:
                outcomes = await self._handle_in_transaction(todo)
            except _HandlerFailed as failed:
                log.warning("handling %s %s failed: %s", self.stream, failed.entry.id, failed.error)
                failures[failed.entry.id] = failed.error
                todo.remove(failed.entry)
            else:
                for outcome in outcomes:
                    EVENTS_HANDLED.labels(self.stream, self.group, outcome).inc()
                break
        return failures

    async def _handle_in_transaction(self, entries: list[StreamEntry]) -> list[str]:
        """Dedupe rows and handlers of all entries in one transaction; commits on return."""
        outcomes: list[str] = []
        parsed: list[tuple[StreamEntry, Route[Any], Envelope[Any]]] = []
        for entry in entries:
            route = self.handlers.route(entry.event_type)
            assert route is not None  # process() acknowledged the types without a handler
            try:
                event = route.parse(entry.envelope_json)
            except ValueError as exc:
                raise _HandlerFailed(entry, exc) from exc
            if route.task is None and not route.autocommit:
                parsed.append((entry, route, event))
                continue
            await self._run_alone(entry, route, event)
            outcomes.append("handled")
        if not parsed:
            return outcomes
        async with self.sessionmaker() as session:
            try:
                first = await record_first_deliveries(
                    session,
                    self.inbox,
                    group=self.group,
                    event_ids=[e.event_id for _, _, e in parsed],
                )
                for entry, route, event in parsed:
                    if event.event_id not in first:
                        outcomes.append("duplicate")
                        continue
                    first.discard(event.event_id)  # the same event twice in one batch
                    # Logs and events written by the handler carry the request id of the origin.
                    token = correlation_id.set(event.correlation_id)
                    assert route.handler is not None
                    try:
                        await route.handler(session, event)
                    except Exception as exc:  # this entry's error, unless an outage
                        if outage(exc):
                            raise
                        raise _HandlerFailed(entry, exc) from exc
                    finally:
                        correlation_id.reset(token)
                    outcomes.append("handled")
            except BaseException:
                await rollback(session)
                raise
            # Commit through shared.db so the handlers' after-commit callbacks (cache
            # invalidation) run, exactly as they do after a request.
            await commit(session)
        return outcomes

    async def _run_alone(self, entry: StreamEntry, route: Route[Any], event: Envelope[Any]) -> None:
        """A task route (it opens its own transactions) or an autocommit route (its one
        statement is its own transaction): the consumer opens none, writes no inbox row."""
        token = correlation_id.set(event.correlation_id)
        try:
            if route.task is not None:
                await route.task(event)
            else:
                assert route.handler is not None
                async with self.autocommit_sessionmaker() as session:
                    await route.handler(session, event)
                    await commit(session)  # no round trip: for the after-commit callbacks
        except Exception as exc:
            if outage(exc):
                raise
            raise _HandlerFailed(entry, exc) from exc
        finally:
            correlation_id.reset(token)

    async def _dead_letter(self, entry: StreamEntry, deliveries: int, error: str) -> None:
        log.error("dead letter %s %s (%d deliveries): %s", self.stream, entry.id, deliveries, error)
        fields = dead_letter_fields(
            entry, stream=self.stream, group=self.group, deliveries=deliveries, error=error
        )
        # Park and acknowledge in one MULTI/EXEC, so the entry is never in both or neither.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_stream, fields)  # type: ignore[arg-type]
            pipe.xack(self.stream, self.group, entry.id)
            await pipe.execute()
        EVENTS_HANDLED.labels(self.stream, self.group, "dead_lettered").inc()

    async def _check_database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _read(
        self, cursor: str, *, block_ms: int | None = None, count: int | None = None
    ) -> list[StreamEntry]:
        """XREADGROUP: `>` for new entries, an id for this consumer's pending ones after it."""
        batch = self.settings.consumer_batch_size
        streams: dict[Any, Any] = {self.stream: cursor}
        size = min(count or batch, batch)
        response: Any
        if not self._acks:
            response = await self.redis.xreadgroup(
                self.group, self.name, streams, count=size, block=block_ms
            )
        else:
            # The last batch's XACK first, in the same round trip: Redis runs them in order.
            acks, self._acks = self._acks, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xack(self.stream, self.group, *acks)
                    pipe.xreadgroup(self.group, self.name, streams, count=size, block=block_ms)
                    _, response = await pipe.execute()
            except BaseException:
                self._acks = acks + self._acks  # acknowledged again later: XACK is idempotent
                raise
        return parse_entries(response[0][1]) if response else []

    async def _delivery_counts(self, entries: list[StreamEntry]) -> dict[str, int]:
        """Delivery counts (this one included) of entries re-delivered to this consumer."""
        if not entries:
            return {}
        rows = await self.redis.xpending_range(
            self.stream,
            self.group,
            min=entries[0].id,
            max=entries[-1].id,
            # Own failed entries awaiting their retry may sit in the same id range.
            count=len(entries) + 10 * self.settings.consumer_batch_size,
            consumername=self.name,
        )
        return {str(row["message_id"]): int(row["times_delivered"]) for row in rows}

    async def _maintain(self) -> None:
        """Run housekeeping once per maintenance interval."""
        if time.monotonic() < self._next_maintenance:
            return
        self._next_maintenance = time.monotonic() + self.settings.maintenance_interval_seconds
        try:
            await self._prune_and_measure()
        except DELAYING_ERRORS:
            raise
        except Exception:  # housekeeping must never stop consumption
            log.exception("consumer maintenance of %s failed", self.stream)

    async def _prune_and_measure(self) -> None:
        """Forget old dedupe rows; refresh lag, pending and dead-letter gauges."""
        await prune_inbox(
            self.engine,
            self.inbox,
            group=self.group,
            retention_s=self.settings.inbox_retention_seconds,
        )
        await refresh_stream_gauges(
            self.redis, stream=self.stream, dead_letter_stream=self.dead_letter_stream
        )
