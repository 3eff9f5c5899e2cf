"""Helpers of the payments tests (imported by name: conftest puts this folder on the path)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from payments.db.tables import Payment, ProviderCharge, outbox
from payments.worker import Worker
from shared.events.envelope import Envelope
from shared.events.streams import entry_fields, events_stream

STAFF_ID, ALICE_ID, BOB_ID = 1, 2, 3
Headers = dict[str, str]
VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


_keys = itertools.count(1)


def with_key(headers: Headers, key: str | None = None) -> Headers:
    """Headers plus an Idempotency-Key (a fresh one unless given)."""
    return {**headers, "Idempotency-Key": key or f"key-{next(_keys)}"}


def card_body(order_id: int, **card: Any) -> dict[str, Any]:
    return {"order_id": order_id, "method": "card", "card": {**VISA, **card}}


MakeOrder = Callable[..., Awaitable[int]]
_order_ids = itertools.count(1001)


async def drain(worker: Worker, *, rounds: int = 200) -> None:
    """Relay and consume until two rounds in a row find nothing to do."""
    idle = 0
    for _ in range(rounds):
        busy = await worker.relay.publish_pending()
        busy += await worker.orders_consumer.poll()
        busy += await worker.processor.poll()
        idle = 0 if busy else idle + 1
        if idle == 2:
            return
    raise AssertionError("the worker did not settle")


async def publish_order_event(
    app: FastAPI,
    event_type: str,
    *,
    order_id: int,
    status: str,
    previous_status: str | None,
    user_id: int = ALICE_ID,
    total: str = "120.50",
    occurred_at: datetime | None = None,
    **extra: Any,
) -> None:
    """XADD an orders-service event to `orders.events`, shaped as its relay sends them."""
    envelope = Envelope[dict[str, Any]](
        type=event_type,
        version=1,
        producer="orders",
        aggregate_id=str(order_id),
        occurred_at=occurred_at or datetime.now(UTC),
        payload={
            "order_id": order_id,
            "user_id": user_id,
            "status": status,
            "previous_status": previous_status,
            "total_amount": total,
            "currency": "EUR",
            **extra,
        },
    )
    fields = entry_fields(
        event_id=str(envelope.event_id),
        event_type=event_type,
        envelope_json=envelope.model_dump_json(),
    )
    await app.state.redis.xadd(events_stream("orders"), fields)


async def payment_row(app: FastAPI, payment_id: int) -> Payment:
    async with app.state.sessionmaker() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None
        return payment


async def published(app: FastAPI, *types: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of the outbox rows, in order; only of `types` when given."""
    table = outbox.table
    stmt = select(table.c.type, table.c.envelope).order_by(table.c.id)
    if types:
        stmt = stmt.where(table.c.type.in_(types))
    async with app.state.engine.connect() as conn:
        return [(row.type, row.envelope["payload"]) for row in await conn.execute(stmt)]


async def provider_charges(app: FastAPI, kind: str = "charge") -> list[ProviderCharge]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(select(ProviderCharge).where(ProviderCharge.kind == kind))
        return list(rows.scalars())


async def count_payments(app: FastAPI) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(Payment))).scalar_one())
