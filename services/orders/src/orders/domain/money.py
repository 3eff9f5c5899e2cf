"""Money arithmetic: exact decimals to the cent, never floats."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

CENT = Decimal("0.01")
# The largest amount a Numeric(12, 2) column holds.
MAX_AMOUNT = Decimal("9999999999.99")


def line_total(unit_price: Decimal, quantity: int) -> Decimal:
    """Price times quantity; exact, since prices already have two places."""
    return (unit_price * quantity).quantize(CENT)


def total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00")).quantize(CENT)


def fits(amount: Decimal) -> bool:
    """Whether an amount can be stored (and charged) at all."""
    return amount <= MAX_AMOUNT
