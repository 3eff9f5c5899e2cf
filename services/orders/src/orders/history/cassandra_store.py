"""The projection in Cassandra (cassandra-driver), used when CASSANDRA_CONTACT_POINTS is set.

- Every write is `USING TIMESTAMP <event time in µs>`: Cassandra keeps, per cell, the
  value of the newest event, so duplicates and any arrival order converge, with no read
  before a write. Statements are prepared and marked idempotent (safe to retry).
- The driver's `execute_async` completes on its own I/O thread; its callbacks hand the
  result to the event loop with `call_soon_threadsafe`, so nothing blocks the loop.
  Connecting and preparing are blocking calls and run in a worker thread.
- Consistency: LOCAL_QUORUM for reads and writes unless configured otherwise.
"""

# ruff: noqa: S608  (CQL names the keyspace, validated by the settings; values are bound)
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement, SimpleStatement
from sqlalchemy.ext.asyncio import AsyncSession

from orders.history.cql_migrations import migrate
from orders.history.model import (
    Fold,
    Line,
    OrdersPage,
    OrderSummary,
    PageKey,
    PaymentSummary,
    ProjectedState,
    Timeline,
    TimelineEntry,
)
from orders.history.settings import CassandraSettings
from orders.history.store import Direction

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TRUNCATE_TIMEOUT_S = 120.0
SCAN_PAGE_SIZE = 5000


def write_timestamp(at: datetime) -> int:
    """USING TIMESTAMP value: microseconds since the epoch, exactly (no float rounding)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _utc(value: datetime | None) -> datetime | None:
    # The driver returns timestamps as naive UTC datetimes.
    return None if value is None else value.replace(tzinfo=UTC)


def _lines_json(fold: Fold) -> str:
    assert fold.placement is not None
    return json.dumps(
        [
            {
                "product_id": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
            }
            for line in fold.placement.lines
        ]
    )


def _lines(raw: str | None) -> tuple[Line, ...]:
    return tuple(
        Line(
            product_id=int(line["product_id"]),
            name=str(line["name"]),
            quantity=int(line["quantity"]),
            unit_price=Decimal(line["unit_price"]),
        )
        for line in json.loads(raw or "[]")
    )


def _set_result(future: asyncio.Future[list[Any]], rows: list[Any]) -> None:
    if not future.done():  # the awaiting task may have been cancelled
        future.set_result(rows)


def _set_exception(future: asyncio.Future[list[Any]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _Statements:
    """Every statement the store runs, prepared once per session."""

    def __init__(self, session: Session, settings: CassandraSettings) -> None:
        ks = settings.keyspace
        read = ConsistencyLevel.name_to_value[settings.read_consistency or settings.consistency]
        write = ConsistencyLevel.name_to_value[settings.write_consistency or settings.consistency]

        def prepare(cql: str, consistency: int) -> PreparedStatement:
            statement: PreparedStatement = session.prepare(cql)
            statement.consistency_level = consistency
            # Every write is an upsert at a fixed timestamp and every read is a read:
            # the driver may retry or speculatively re-send any of them.
            statement.is_idempotent = True
            return statement

        self.insert_by_user = prepare(
            f"INSERT INTO {ks}.orders_by_user (user_id, placed_at, order_id, lines) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
            write,
        )
        self.set_placed = prepare(
            f"UPDATE {ks}.order_state USING TIMESTAMP ? SET placed_at = ? WHERE order_id = ?",
            write,
        )
        self.set_order_cells = prepare(
            f"UPDATE {ks}.order_state USING TIMESTAMP ? SET user_id = ?, status = ?, total = ?, "
            "currency = ?, last_event_at = ? WHERE order_id = ?",
            write,
        )
        self.set_payment_cells = prepare(
            f"UPDATE {ks}.order_state USING TIMESTAMP ? SET user_id = ?, payment_outcome = ?, "
            "payment_method = ?, card_brand = ?, card_last4 = ?, last_event_at = ? "
            "WHERE order_id = ?",
            write,
        )
        self.insert_entry = prepare(
            f"INSERT INTO {ks}.order_timeline (order_id, occurred_at, event_id, user_id, "
            "event_type, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            write,
        )
        columns = "user_id, placed_at, order_id, lines"
        self.first_page = prepare(
            f"SELECT {columns} FROM {ks}.orders_by_user WHERE user_id = ? LIMIT ?", read
        )
        self.older_page = prepare(
            f"SELECT {columns} FROM {ks}.orders_by_user WHERE user_id = ? "
            "AND (placed_at, order_id) < (?, ?) LIMIT ?",
            read,
        )
        self.newer_page = prepare(
            f"SELECT {columns} FROM {ks}.orders_by_user WHERE user_id = ? "
            "AND (placed_at, order_id) > (?, ?) ORDER BY placed_at ASC, order_id ASC LIMIT ?",
            read,
        )
        self.state = prepare(
            f"SELECT order_id, user_id, placed_at, status, total, currency, payment_outcome, "
            f"payment_method, card_brand, card_last4, last_event_at FROM {ks}.order_state "
            "WHERE order_id = ?",
            read,
        )
        self.timeline = prepare(
            f"SELECT user_id, occurred_at, event_id, event_type, status, detail "
            f"FROM {ks}.order_timeline WHERE order_id = ?",
            read,
        )
        self.all_ids = SimpleStatement(
            f"SELECT order_id FROM {ks}.order_state",
            consistency_level=read,
            fetch_size=SCAN_PAGE_SIZE,
            is_idempotent=True,
        )
        self.truncates = [
            SimpleStatement(f"TRUNCATE {ks}.{table}", consistency_level=ConsistencyLevel.ALL)
            for table in ("orders_by_user", "order_state", "order_timeline")
        ]


class CassandraHistoryStore:
    """Orders by user, order state and timelines in one keyspace."""

    name = "cassandra"

    def __init__(self, settings: CassandraSettings, *, migrate: bool = True) -> None:
        self.settings = settings
        self._migrate = migrate
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._statements: _Statements | None = None
        self._ready = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(settings.max_in_flight)

    # -- lifecycle ---------------------------------------------------------------------

    async def prepare(self) -> None:
        await self._ensure()

    async def _ensure(self) -> _Statements:
        """Connect, migrate (when allowed) and prepare, once; a failure is retried next call."""
        if self._statements is not None:
            return self._statements
        async with self._ready:
            if self._statements is None:
                if self._session is None:
                    self._session = await asyncio.to_thread(self._connect)
                if self._migrate:
                    await migrate(self.settings, self._run)
                session = self._session
                self._statements = await asyncio.to_thread(_Statements, session, self.settings)
        return self._statements

    def _connect(self) -> Session:
        settings = self.settings
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=settings.local_dc)
            ),
            consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
            request_timeout=settings.request_timeout_seconds,
        )
        auth = (
            PlainTextAuthProvider(username=settings.username, password=settings.password)
            if settings.username
            else None
        )
        self._cluster = Cluster(
            contact_points=settings.hosts,
            port=settings.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            auth_provider=auth,
        )
        session: Session = self._cluster.connect()
        return session

    async def close(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster, self._session, self._statements = (
                self._cluster,
                None,
                None,
                None,
            )
            await asyncio.to_thread(cluster.shutdown)

    async def drop_keyspace(self) -> None:
        """Tests only: remove the keyspace this store owns."""
        await self._ensure()
        await self._run(f"DROP KEYSPACE IF EXISTS {self.settings.keyspace}", request_timeout=60.0)

    # -- the asyncio bridge ---------------------------------------------------------------

    def _start(
        self, statement: Any, params: Any = None, request_timeout: float | None = None
    ) -> ResponseFuture:
        assert self._session is not None
        if request_timeout is None:
            return self._session.execute_async(statement, params)
        return self._session.execute_async(statement, params, timeout=request_timeout)

    async def _run(
        self, statement: Any, params: Any = None, *, request_timeout: float | None = None
    ) -> list[Any]:
        """Execute on the driver's threads; the rows (first page) arrive on the event loop."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[list[Any]] = loop.create_future()

        def on_rows(rows: Any) -> None:
            loop.call_soon_threadsafe(_set_result, result, list(rows or ()))

        def on_error(exc: BaseException) -> None:
            loop.call_soon_threadsafe(_set_exception, result, exc)

        self._start(statement, params, request_timeout).add_callbacks(on_rows, on_error)
        return await result

    async def _write(self, statement: PreparedStatement, params: Sequence[Any]) -> None:
        async with self._in_flight:
            await self._run(statement, params)

    async def _pages(self, statement: Any, params: Any = None) -> AsyncIterator[list[Any]]:
        """Every page of a large result; the next page is fetched once this one is consumed."""
        loop = asyncio.get_running_loop()
        pages: asyncio.Queue[tuple[list[Any], BaseException | None]] = asyncio.Queue()

        def on_rows(rows: Any) -> None:
            loop.call_soon_threadsafe(pages.put_nowait, (list(rows or ()), None))

        def on_error(exc: BaseException) -> None:
            loop.call_soon_threadsafe(pages.put_nowait, ([], exc))

        response = self._start(statement, params)
        # The callbacks stay registered: each fetched page calls them again.
        response.add_callbacks(on_rows, on_error)
        while True:
            rows, error = await pages.get()
            if error is not None:
                raise error
            yield rows
            if not response.has_more_pages:
                return
            response.start_fetching_next_page()

    # -- writes -----------------------------------------------------------------------------

    async def apply(self, session: AsyncSession, folds: Sequence[Fold]) -> None:
        """Write every fold's statements concurrently (bounded); `session` is not used."""
        statements = await self._ensure()
        writes = [w for fold in folds for w in self._writes(statements, fold)]
        await asyncio.gather(*(self._write(statement, params) for statement, params in writes))

    @staticmethod
    def _writes(s: _Statements, fold: Fold) -> list[tuple[PreparedStatement, Sequence[Any]]]:
        ts = write_timestamp(fold.written_at)
        entry = fold.entry
        last = entry.occurred_at
        writes: list[tuple[PreparedStatement, Sequence[Any]]] = [
            (
                s.insert_entry,
                (
                    fold.order_id,
                    entry.occurred_at,
                    entry.event_id,
                    fold.user_id,
                    entry.event_type,
                    entry.status,
                    json.dumps(entry.detail, sort_keys=True),
                    ts,
                ),
            )
        ]
        if fold.placement is not None:
            placed = fold.placement.placed_at
            writes.append(
                (s.insert_by_user, (fold.user_id, placed, fold.order_id, _lines_json(fold), ts))
            )
            writes.append((s.set_placed, (ts, placed, fold.order_id)))
        if fold.order is not None:
            o = fold.order
            writes.append(
                (
                    s.set_order_cells,
                    (ts, fold.user_id, o.status, o.total, o.currency, last, fold.order_id),
                )
            )
        if fold.payment is not None:
            p = fold.payment
            writes.append(
                (
                    s.set_payment_cells,
                    (
                        ts,
                        fold.user_id,
                        p.outcome,
                        p.method,
                        p.card_brand,
                        p.card_last4,
                        last,
                        fold.order_id,
                    ),
                )
            )
        return writes

    # -- reads ------------------------------------------------------------------------------

    async def list_orders(
        self,
        user_id: int,
        *,
        limit: int,
        after: PageKey | None = None,
        direction: Direction = "next",
    ) -> OrdersPage:
        s = await self._ensure()
        if after is None:
            rows = await self._run(s.first_page, (user_id, limit + 1))
        elif direction == "next":
            rows = await self._run(
                s.older_page, (user_id, after.placed_at, after.order_id, limit + 1)
            )
        else:
            rows = await self._run(
                s.newer_page, (user_id, after.placed_at, after.order_id, limit + 1)
            )
        has_more = len(rows) > limit
        rows = rows[:limit]
        if direction == "prev" and after is not None:
            rows.reverse()
        # One single-partition read per listed order, all in flight at once.
        states = await asyncio.gather(*(self._run(s.state, (row.order_id,)) for row in rows))
        orders = [
            self._summary(row, state[0] if state else None)
            for row, state in zip(rows, states, strict=True)
        ]
        return OrdersPage(orders=orders, has_more=has_more)

    @staticmethod
    def _summary(row: Any, state: Any) -> OrderSummary:
        payment = None
        if state is not None and state.payment_outcome is not None:
            payment = PaymentSummary(
                outcome=state.payment_outcome,
                method=state.payment_method,
                card_brand=state.card_brand,
                card_last4=state.card_last4,
            )
        placed_at = _utc(row.placed_at)
        assert placed_at is not None
        last = _utc(state.last_event_at) if state is not None else None
        return OrderSummary(
            order_id=row.order_id,
            user_id=row.user_id,
            placed_at=placed_at,
            status=state.status if state is not None else None,
            total=state.total if state is not None else None,
            currency=state.currency if state is not None else None,
            lines=_lines(row.lines),
            payment=payment,
            last_event_at=last or placed_at,
        )

    async def timeline(self, order_id: int) -> Timeline | None:
        s = await self._ensure()
        rows = [row async for page in self._pages(s.timeline, (order_id,)) for row in page]
        # A partition with only its static cell left has one row without a clustering key.
        rows = [row for row in rows if row.event_id is not None]
        if not rows:
            return None
        entries = tuple(
            TimelineEntry(
                occurred_at=_utc(row.occurred_at) or EPOCH,
                event_id=row.event_id,
                event_type=row.event_type,
                status=row.status,
                detail=json.loads(row.detail or "{}"),
            )
            for row in rows
        )
        return Timeline(order_id=order_id, user_id=rows[0].user_id, entries=entries)

    async def states(self, order_ids: Sequence[int]) -> dict[int, ProjectedState]:
        s = await self._ensure()

        async def read(order_id: int) -> list[Any]:
            async with self._in_flight:
                return await self._run(s.state, (order_id,))

        results = await asyncio.gather(*(read(order_id) for order_id in order_ids))
        return {
            row.order_id: ProjectedState(
                order_id=row.order_id,
                placed=row.placed_at is not None,
                status=row.status,
                total=row.total,
            )
            for rows in results
            for row in rows
        }

    async def order_ids(self) -> AsyncIterator[int]:
        s = await self._ensure()
        async for page in self._pages(s.all_ids):
            for row in page:
                yield row.order_id

    async def reset(self) -> None:
        s = await self._ensure()
        for truncate in s.truncates:
            await self._run(truncate, request_timeout=TRUNCATE_TIMEOUT_S)
