"""The embedded store: schema `order_history` in the shop's PostgreSQL.

It emulates Cassandra's last-write-wins per cell: each group of cells carries the
version (event time, event id) of the event that wrote it, and an upsert replaces a
group only with a newer one. One statement per event, no read before the write.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history import archive, gate
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
from orders.history.store import Direction
from orders.history.tables import SCHEMA, order_timeline, orders_by_user
from shared.db import autocommit
from shared.events.envelope import Envelope

_NEWER_ORDER = (
    "EXCLUDED.order_at IS NOT NULL AND (t.order_at IS NULL"
    " OR (EXCLUDED.order_at, EXCLUDED.order_event_id) > (t.order_at, t.order_event_id))"
)
_NEWER_PAYMENT = (
    "EXCLUDED.payment_at IS NOT NULL AND (t.payment_at IS NULL"
    " OR (EXCLUDED.payment_at, EXCLUDED.payment_event_id) > (t.payment_at, t.payment_event_id))"
)
_ORDER_CELLS = ("status", "total", "currency", "order_at", "order_event_id")
_PAYMENT_CELLS = (
    "payment_outcome",
    "payment_method",
    "card_brand",
    "card_last4",
    "payment_at",
    "payment_event_id",
)
_COLUMNS = (
    "order_id",
    "user_id",
    "placed_at",
    "lines",
    *_ORDER_CELLS,
    *_PAYMENT_CELLS,
    "last_event_at",
)
# The columns of an orders_by_user row, in this order (the bulk loader writes them too).
ROW_COLUMNS = _COLUMNS


def _set_if(condition: str, cells: Sequence[str]) -> list[str]:
    return [f"{c} = CASE WHEN {condition} THEN EXCLUDED.{c} ELSE t.{c} END" for c in cells]


# Every SET expression sees the row as it was, so the conditions compare with the old
# versions even while the version columns themselves are being replaced. (S608: the SQL
# is built from the constants above; every value is a bound parameter.)
UPSERT_ORDER = text(
    f"INSERT INTO {SCHEMA}.orders_by_user AS t ({', '.join(_COLUMNS)}) VALUES ("  # noqa: S608
    + ", ".join("CAST(:lines AS jsonb)" if c == "lines" else f":{c}" for c in _COLUMNS)
    + ") ON CONFLICT (order_id) DO UPDATE SET "
    + ", ".join(
        [
            # Only OrderPlaced writes the placement, and it is the same on every delivery.
            "placed_at = COALESCE(t.placed_at, EXCLUDED.placed_at)",
            "lines = COALESCE(t.lines, EXCLUDED.lines)",
            *_set_if(_NEWER_ORDER, _ORDER_CELLS),
            *_set_if(_NEWER_PAYMENT, _PAYMENT_CELLS),
            "last_event_at = GREATEST(t.last_event_at, EXCLUDED.last_event_at)",
        ]
    )
)
INSERT_ENTRY = text(
    f"INSERT INTO {SCHEMA}.order_timeline"  # noqa: S608
    " (order_id, occurred_at, event_id, user_id, event_type, status, detail)"
    " VALUES (:order_id, :occurred_at, :event_id, :user_id, :event_type, :status,"
    " CAST(:detail AS jsonb)) ON CONFLICT DO NOTHING"
)


def _gated(insert: str) -> str:
    """`INSERT ... VALUES (row) ON CONFLICT ...` as `INSERT ... SELECT row FROM gate WHERE
    gate.open ON CONFLICT ...` (PostgreSQL types the parameters from the target columns
    all the same)."""
    head, values = insert.split(" VALUES (", 1)
    row, tail = values.split(") ON CONFLICT", 1)
    return f"{head} SELECT {row} FROM gate WHERE gate.open ON CONFLICT{tail}"  # noqa: S608


_ARCHIVE_ROW = (
    f"INSERT INTO {SCHEMA}.event_archive"  # noqa: S608
    " (event_id, occurred_at, type, producer, aggregate_id, envelope)"
    " VALUES (:a_event_id, :a_occurred_at, :a_type, :a_producer, :a_aggregate_id,"
    " CAST(:a_envelope AS jsonb)) ON CONFLICT DO NOTHING"
)
_ENTRY_ROW = (
    INSERT_ENTRY.text.replace("VALUES (:", "VALUES (:e_")
    .replace(", :", ", :e_")
    .replace("CAST(:detail", "CAST(:e_detail")
)
# One event's archive row, summary upsert and timeline entry in one statement, run in
# autocommit (each data-modifying WITH clause runs exactly once and to completion): at
# low rates the projector folds one event at a time, and a round trip costs more CPU than
# the statement. The rebuild gate is tried first, without waiting: while a rebuild empties
# the store the statement writes nothing and answers false, and the fold waits for the
# gate outside it (`gate.wait_open`), holding no lock a rebuild waits for. Parameters of
# the archive row are prefixed `a_`, those of the timeline entry `e_`; the summary's are
# UPSERT_ORDER's.
FOLD_ONE = text(
    f"WITH gate AS (SELECT pg_try_advisory_xact_lock_shared(hashtext('{gate.GATE_NAME}'))"  # noqa: S608
    " AS open),"
    f" archived AS ({_gated(_ARCHIVE_ROW)}),"
    f" summary AS ({_gated(UPSERT_ORDER.text)}),"
    f" entry AS ({_gated(_ENTRY_ROW)})"
    " SELECT open FROM gate"
)


def _order_params(fold: Fold) -> dict[str, Any]:
    params: dict[str, Any] = dict.fromkeys(_COLUMNS)
    params.update(
        order_id=fold.order_id, user_id=fold.user_id, last_event_at=fold.entry.occurred_at
    )
    if fold.placement is not None:
        params["placed_at"] = fold.placement.placed_at
        params["lines"] = json.dumps(
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
    if fold.order is not None:
        params.update(
            status=fold.order.status,
            total=fold.order.total,
            currency=fold.order.currency,
            order_at=fold.written_at,
            order_event_id=fold.event_id,
        )
    if fold.payment is not None:
        params.update(
            payment_outcome=fold.payment.outcome,
            payment_method=fold.payment.method,
            card_brand=fold.payment.card_brand,
            card_last4=fold.payment.card_last4,
            payment_at=fold.written_at,
            payment_event_id=fold.event_id,
        )
    return params


def _entry_params(fold: Fold) -> dict[str, Any]:
    entry = fold.entry
    return {
        "order_id": fold.order_id,
        "occurred_at": entry.occurred_at,
        "event_id": entry.event_id,
        "user_id": fold.user_id,
        "event_type": entry.event_type,
        "status": entry.status,
        "detail": json.dumps(entry.detail, sort_keys=True),
    }


def _lines(raw: Any) -> tuple[Line, ...]:
    return tuple(
        Line(
            product_id=int(line["product_id"]),
            name=str(line["name"]),
            quantity=int(line["quantity"]),
            unit_price=Decimal(line["unit_price"]),
        )
        for line in raw or ()
    )


def _summary(row: Row[Any]) -> OrderSummary:
    payment = None
    if row.payment_outcome is not None:
        payment = PaymentSummary(
            outcome=row.payment_outcome,
            method=row.payment_method,
            card_brand=row.card_brand,
            card_last4=row.card_last4,
        )
    return OrderSummary(
        order_id=row.order_id,
        user_id=row.user_id,
        placed_at=row.placed_at,
        status=row.status,
        total=row.total,
        currency=row.currency,
        lines=_lines(row.lines),
        payment=payment,
        last_event_at=row.last_event_at,
    )


class PostgresHistoryStore:
    """The projection in PostgreSQL; writes join the consumer's transaction."""

    name = "postgres"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Every read is one statement: in autocommit it is one round trip, not three.
        self.reads = autocommit(engine)

    async def prepare(self) -> None:
        """Nothing to do: migration 0003 of the orders service made the tables."""

    async def apply(self, session: AsyncSession, folds: Sequence[Fold]) -> None:
        if not folds:
            return
        # Lock rows in one order whatever the batch, so concurrent projectors cannot deadlock.
        ordered = sorted(folds, key=lambda f: (f.order_id, f.written_at, f.event_id))
        await session.execute(UPSERT_ORDER, [_order_params(f) for f in ordered])
        await session.execute(INSERT_ENTRY, [_entry_params(f) for f in ordered])

    async def fold_one(self, session: AsyncSession, event: Envelope[Any], fold: Fold) -> bool:
        """Archive one event and apply its fold, in one statement (the same writes as
        `archive.append` and `apply` of that one event); False, with nothing written, if a
        rebuild holds the gate. For a session in autocommit: it needs no transaction."""
        archived = archive.row(event)
        archived["envelope"] = json.dumps(archived["envelope"])
        params = {
            **_order_params(fold),
            **{f"a_{name}": value for name, value in archived.items()},
            **{f"e_{name}": value for name, value in _entry_params(fold).items()},
        }
        return bool((await session.execute(FOLD_ONE, params)).scalar_one())

    async def list_orders(
        self,
        user_id: int,
        *,
        limit: int,
        after: PageKey | None = None,
        direction: Direction = "next",
    ) -> OrdersPage:
        t = orders_by_user
        key = tuple_(t.c.placed_at, t.c.order_id)
        newer_first = direction == "next"
        stmt = select(t).where(t.c.user_id == user_id, t.c.placed_at.is_not(None))
        if after is not None:
            bound = tuple_(*_bound(after))
            stmt = stmt.where(key < bound if newer_first else key > bound)
        order = (
            [t.c.placed_at.desc(), t.c.order_id.desc()]
            if newer_first
            else [t.c.placed_at.asc(), t.c.order_id.asc()]
        )
        async with self.reads.connect() as conn:
            rows = (await conn.execute(stmt.order_by(*order).limit(limit + 1))).all()
        orders = [_summary(row) for row in rows[:limit]]
        if not newer_first:
            orders.reverse()
        return OrdersPage(orders=orders, has_more=len(rows) > limit)

    async def timeline(self, order_id: int) -> Timeline | None:
        t = order_timeline
        stmt = select(t).where(t.c.order_id == order_id).order_by(t.c.occurred_at, t.c.event_id)
        async with self.reads.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return None
        entries = tuple(
            TimelineEntry(
                occurred_at=row.occurred_at,
                event_id=row.event_id,
                event_type=row.event_type,
                status=row.status,
                detail=dict(row.detail),
            )
            for row in rows
        )
        return Timeline(order_id=order_id, user_id=rows[0].user_id, entries=entries)

    async def states(self, order_ids: Sequence[int]) -> dict[int, ProjectedState]:
        t = orders_by_user
        stmt = select(t.c.order_id, t.c.placed_at, t.c.status, t.c.total).where(
            t.c.order_id.in_(list(order_ids))
        )
        async with self.reads.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {
            row.order_id: ProjectedState(
                order_id=row.order_id,
                placed=row.placed_at is not None,
                status=row.status,
                total=row.total,
            )
            for row in rows
        }

    async def order_ids(self) -> AsyncIterator[int]:
        t = orders_by_user
        last = 0
        while True:
            stmt = select(t.c.order_id).where(t.c.order_id > last).order_by(t.c.order_id)
            async with self.reads.connect() as conn:
                ids = list((await conn.execute(stmt.limit(5000))).scalars())
            if not ids:
                return
            for order_id in ids:
                yield order_id
            last = ids[-1]

    async def reset(self) -> None:
        """Empty the store (under the rebuild gate). DELETE, not TRUNCATE: a fold's statement
        takes its tables' locks before it tries the gate, so a TRUNCATE (which waits for
        those locks while holding others) could deadlock with one; a DELETE takes none."""
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {SCHEMA}.order_timeline"))  # noqa: S608
            await conn.execute(text(f"DELETE FROM {SCHEMA}.orders_by_user"))  # noqa: S608

    async def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""


def _bound(key: PageKey) -> tuple[Any, Any]:
    from sqlalchemy import literal

    return (
        literal(key.placed_at, type_=orders_by_user.c.placed_at.type),
        literal(key.order_id, type_=orders_by_user.c.order_id.type),
    )
