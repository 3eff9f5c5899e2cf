"""Tables of the `payments` schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import MAPPER_ARGS, Timestamps, service_metadata
from shared.events.inbox import inbox_table
from shared.events.outbox import Outbox
from shared.idempotency import IdempotencyRecordColumns

SCHEMA = "payments"
# A payment in one of these holds its order: at most one per order at a time.
ACTIVE_STATUSES = ("pending", "succeeded")
ACTIVE_PREDICATE = "status IN ('pending', 'succeeded')"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    __mapper_args__ = MAPPER_ARGS


class OrderReplica(Base):
    """What payments knows of an order, kept from the orders service's events."""

    __tablename__ = "orders"

    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    total_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(30))
    # occurred_at of the event applied last: an older event never overwrites a newer one.
    version: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Payment(Timestamps, Base):
    """One attempt to pay an order. Card numbers and CVCs are never here: only the
    provider's token, the brand, the last four digits and the expiry."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'refunded')", name="status_known"
        ),
        CheckConstraint("method IN ('card', 'paypal', 'bank_transfer')", name="method_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20))
    # The payment source as the provider's vault knows it (see provider/simulated.py).
    source_token: Mapped[str] = mapped_column(String(100))
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(SmallInteger)
    card_exp_year: Mapped[int | None] = mapped_column(SmallInteger)
    # Our idempotency key at the provider: a retried charge after a crash is not a second one.
    provider_key: Mapped[uuid.UUID] = mapped_column(Uuid, default=uuid.uuid4, unique=True)
    # Committed before the provider is called: a pending payment with a claim may have
    # been charged (the worker died waiting for the answer), so it is never failed
    # without asking the provider again, by the same key.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    charge_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(String(50))
    refund_id: Mapped[str | None] = mapped_column(String(100))


# One pending or succeeded payment per order: a second one for the same order is refused
# by the database, whatever the timing.
Index(
    "uq_payments_active_order",
    Payment.order_id,
    unique=True,
    postgresql_where=text(ACTIVE_PREDICATE),
)
Index("ix_payments_user", Payment.user_id, Payment.id)
Index("ix_payments_order", Payment.order_id, Payment.id)


class IdempotencyRecord(IdempotencyRecordColumns, Base):
    """A client's `Idempotency-Key` for POST /api/payments/ and the answer it got
    (`shared.idempotency`; the fingerprint is an HMAC of the request without the card
    number and the CVC)."""

    __tablename__ = "idempotency_keys"


class ProviderCharge(Base):
    """The simulated provider's own records (a real provider keeps these on its side).

    Keyed by the idempotency key we send, so a repeated call answers with the recorded
    outcome instead of charging again; it lives outside the worker process (and outside
    the worker's transactions), as a provider's records do.
    """

    __tablename__ = "provider_charges"
    __table_args__ = (CheckConstraint("kind IN ('charge', 'refund')", name="kind_known"),)

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    # ch_... for a charge, re_... for a refund.
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    # For refunds: the refunded charge.
    charge_reference: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    succeeded: Mapped[bool]
    decline_code: Mapped[str | None] = mapped_column(String(50))
    # Calls that carried this key: > 1 means idempotent replays were answered.
    requests: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProviderHold(Base):
    """A simulated provider call held until a test releases it (PAYMENTS_PROVIDER_TEST_HOLDS).

    Keyed like the provider's records (`charge:<key>`, `refund:<key>`): a held charge
    waits for `released`; a refund with an unreleased hold fails transiently. `calls`
    counts the calls that met the hold, so a test sees a retry happen."""

    __tablename__ = "provider_holds"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    released: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    calls: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


outbox = Outbox(Base.metadata)
inbox = inbox_table(Base.metadata)
