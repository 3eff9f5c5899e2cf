"""The adapter interface every payment provider implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class CardDetails:
    """A card as the client sent it. Lives only in the request that tokenizes it."""

    # Hidden from repr, so a traceback or a debug log line cannot show them.
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    holder_name: str | None = None


@dataclass(frozen=True)
class PayPalAccount:
    email: str


@dataclass(frozen=True)
class BankAccount:
    iban: str = field(repr=False)
    holder_name: str


PaymentDetails = CardDetails | PayPalAccount | BankAccount


@dataclass(frozen=True)
class PaymentSource:
    """What we keep of a payment source: the provider's token and what a receipt shows."""

    token: str
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = None
    card_exp_year: int | None = None


@dataclass(frozen=True)
class ChargeResult:
    reference: str
    succeeded: bool
    decline_code: str | None = None


@dataclass(frozen=True)
class RefundResult:
    reference: str


class ProviderError(Exception):
    """The provider refused a call for good (unknown token, reused key, no such charge)."""


class TransientProviderError(ProviderError):
    """The provider could not answer this time; the same call may succeed later."""


class PaymentProvider(Protocol):
    async def tokenize(self, details: PaymentDetails) -> PaymentSource:
        """Hand the payment details to the provider's vault; get a token back."""
        ...

    async def charge(
        self, *, idempotency_key: str, source_token: str, amount: Decimal, currency: str
    ) -> ChargeResult:
        """Charge once per `idempotency_key`; a repeated call answers with the first result."""
        ...

    async def refund(
        self, *, idempotency_key: str, charge_reference: str, amount: Decimal, currency: str
    ) -> RefundResult:
        """Refund a succeeded charge, once per `idempotency_key`."""
        ...
