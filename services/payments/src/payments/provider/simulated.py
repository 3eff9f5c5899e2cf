"""The built-in simulated provider, with test cards, accounts and IBANs modelled on
Stripe's test mode (see the service README).

The vault: tokenization happens in the API request; the token is `tok_sim_<outcome>_<hex>`,
where `<outcome>` is the test behaviour class of the source (`ok`, `card_declined`, ...)
and the hex part is random. Nothing of the card (number, CVC) can be recovered from it,
so the payment row and the events carry only the token, brand, last 4 and expiry, and the
worker needs no secret to charge. The provider's own records of charges and refunds are
the `provider_charges` table, reached through its own connections so that they commit
on their own, as a remote provider's do, whatever happens to the caller's transaction.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.db.tables import ProviderCharge, ProviderHold
from payments.domain.cards import card_brand
from payments.provider.base import (
    CardDetails,
    ChargeResult,
    PaymentDetails,
    PaymentSource,
    PayPalAccount,
    ProviderError,
    RefundResult,
    TransientProviderError,
)
from shared.db import autocommit, bound_insert

OK = "ok"
TRANSIENT = "processing_error"
# Test holds (PAYMENTS_PROVIDER_TEST_HOLDS, tests only): the charge is on record, and its
# answer waits until a test releases the `charge:<key>` hold; without holds these cards
# succeed or decline at once.
HELD_OK = "held_ok"
HELD_DECLINED = "held_card_declined"
HELD = {HELD_OK: OK, HELD_DECLINED: "card_declined"}
HOLD_POLL_S = 0.02
# Outcome classes of the documented test sources; any other valid source succeeds.
TEST_CARDS = {
    "4242424242424242": OK,
    "5555555555554444": OK,
    "378282246310005": OK,
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": TRANSIENT,
}
# The cards of the test holds (see HELD above).
HOLD_CARDS = {"4000000000003063": HELD_OK, "4000000000003055": HELD_DECLINED}
TEST_PAYPAL_ACCOUNTS = {
    "declined@sandbox.example.com": "payment_declined",
    "insufficient@sandbox.example.com": "insufficient_funds",
    "unavailable@sandbox.example.com": TRANSIENT,
}
TEST_IBANS = {
    "DE89370400440532013000": OK,
    "DE62370400440532013001": "bank_account_declined",
    "DE35370400440532013002": "insufficient_funds",
    "DE08370400440532013003": TRANSIENT,
}
OUTCOMES = {OK, *HELD, *TEST_CARDS.values(), *TEST_PAYPAL_ACCOUNTS.values(), *TEST_IBANS.values()}
TOKEN_PREFIX = "tok_sim_"  # noqa: S105 (a prefix, not a secret)

_CHARGES = cast(Table, ProviderCharge.__table__)
_RECORD_COLUMNS = (
    "idempotency_key",
    "kind",
    "reference",
    "charge_reference",
    "amount",
    "currency",
    "succeeded",
    "decline_code",
)
# A call's record, or a replay counted and the first record returned: one statement,
# built once (docs/checkout.md, "Statements built once").
_RECORD = (
    bound_insert(ProviderCharge, *_RECORD_COLUMNS)
    .on_conflict_do_update(
        index_elements=[_CHARGES.c.idempotency_key],
        set_={"requests": _CHARGES.c.requests + 1},
    )
    .returning(*_CHARGES.c)
)


def _outcome_of(details: PaymentDetails) -> str:
    if isinstance(details, CardDetails):
        return TEST_CARDS.get(details.number) or HOLD_CARDS.get(details.number, OK)
    if isinstance(details, PayPalAccount):
        return TEST_PAYPAL_ACCOUNTS.get(details.email.lower(), OK)
    return TEST_IBANS.get(details.iban, OK)


def outcome_of_token(token: str) -> str:
    """The outcome class a token of ours stands for."""
    outcome, _, nonce = token.removeprefix(TOKEN_PREFIX).rpartition("_")
    if not token.startswith(TOKEN_PREFIX) or outcome not in OUTCOMES or not nonce:
        raise ProviderError("unknown payment source token")
    return outcome


class SimulatedProvider:
    """A provider that charges nobody, with a realistic shape: latency, idempotency keys,
    declines, transient errors."""

    def __init__(
        self, engine: AsyncEngine, *, latency_s: float = 0.0, test_holds: bool = False
    ) -> None:
        # Each of the provider's statements commits on its own, as a remote provider's
        # records do: in autocommit, one round trip each (no BEGIN and COMMIT around it).
        self.engine = autocommit(engine)
        self.latency_s = latency_s
        self.test_holds = test_holds
        # Calls made through this instance (tests count retries with it).
        self.charge_calls = 0
        self.refund_calls = 0

    async def tokenize(self, details: PaymentDetails) -> PaymentSource:
        token = f"{TOKEN_PREFIX}{_outcome_of(details)}_{secrets.token_hex(12)}"
        if not isinstance(details, CardDetails):
            return PaymentSource(token=token)
        return PaymentSource(
            token=token,
            card_brand=card_brand(details.number),
            card_last4=details.number[-4:],
            card_exp_month=details.exp_month,
            card_exp_year=details.exp_year,
        )

    async def charge(
        self, *, idempotency_key: str, source_token: str, amount: Decimal, currency: str
    ) -> ChargeResult:
        self.charge_calls += 1
        outcome = outcome_of_token(source_token)
        if outcome == TRANSIENT:
            await self._latency()
            raise TransientProviderError("the simulated provider had a processing error")
        held = outcome in HELD
        outcome = HELD.get(outcome, outcome)
        row = await self._record(
            key=f"charge:{idempotency_key}",
            kind="charge",
            reference=f"ch_sim_{secrets.token_hex(12)}",
            amount=amount,
            currency=currency,
            succeeded=outcome == OK,
            decline_code=None if outcome == OK else outcome,
        )
        # The charge is on record before the answer travels back: a caller that dies now
        # has been charged, and learns so by calling again with the same key.
        if held and self.test_holds:
            await self._wait_for_release(f"charge:{idempotency_key}")
        await self._latency()
        return ChargeResult(
            reference=row["reference"], succeeded=row["succeeded"], decline_code=row["decline_code"]
        )

    async def refund(
        self, *, idempotency_key: str, charge_reference: str, amount: Decimal, currency: str
    ) -> RefundResult:
        self.refund_calls += 1
        async with self.engine.connect() as conn:
            charge = (
                await conn.execute(
                    select(ProviderCharge.succeeded, ProviderCharge.amount).where(
                        ProviderCharge.reference == charge_reference,
                        ProviderCharge.kind == "charge",
                    )
                )
            ).one_or_none()
        if charge is None or not charge.succeeded or amount > charge.amount:
            raise ProviderError("no succeeded charge to refund that amount of")
        if self.test_holds and await self._meets_hold(f"refund:{idempotency_key}"):
            await self._latency()
            raise TransientProviderError("the simulated provider holds this refund")
        row = await self._record(
            key=f"refund:{idempotency_key}",
            kind="refund",
            reference=f"re_sim_{secrets.token_hex(12)}",
            charge_reference=charge_reference,
            amount=amount,
            currency=currency,
            succeeded=True,
            decline_code=None,
        )
        await self._latency()
        return RefundResult(reference=row["reference"])

    async def _record(self, *, key: str, **values: Any) -> dict[str, Any]:
        """Insert the call's record, or count a replay and return the first one."""
        params = {"charge_reference": None, "decline_code": None, **values, "idempotency_key": key}
        async with self.engine.connect() as conn:
            row = dict((await conn.execute(_RECORD, params)).one()._mapping)
        if (row["kind"], row["amount"], row["currency"]) != (
            values["kind"],
            values["amount"],
            values["currency"],
        ):
            raise ProviderError("idempotency key reused with other parameters")
        return row

    async def _meets_hold(self, key: str) -> bool:
        """Count a call against an unreleased hold of `key`; True if there is one."""
        stmt = (
            update(ProviderHold)
            .where(ProviderHold.key == key, ProviderHold.released.is_(False))
            .values(calls=ProviderHold.calls + 1)
            .returning(ProviderHold.key)
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).first() is not None

    async def _wait_for_release(self, key: str) -> None:
        """Put a hold on `key` (or count this call against it) and wait until released."""
        table = ProviderHold.__table__
        upsert = insert(ProviderHold).values(key=key, calls=1)
        stmt = upsert.on_conflict_do_update(
            index_elements=[table.c.key], set_={"calls": table.c.calls + 1}
        ).returning(table.c.released)
        async with self.engine.connect() as conn:
            released = (await conn.execute(stmt)).scalar_one()
        while not released:
            await asyncio.sleep(HOLD_POLL_S)
            async with self.engine.connect() as conn:
                query = select(table.c.released).where(table.c.key == key)
                released = (await conn.execute(query)).scalar_one()

    async def _latency(self) -> None:
        """The round trip, taken after the provider acted (that is where a crash hurts)."""
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s * random.uniform(0.5, 1.5))  # noqa: S311
