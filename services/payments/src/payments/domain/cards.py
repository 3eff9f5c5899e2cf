"""Checks of payment details that need no provider: Luhn, brand, expiry, IBAN."""

from __future__ import annotations

import re
from datetime import date

from stdnum import iban, luhn
from stdnum.exceptions import InvalidChecksum, ValidationError

CARD_NUMBER = re.compile(r"^\d{12,19}$")
IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
# Leading digits of each brand (IIN ranges), most specific first.
_BRANDS: list[tuple[str, tuple[range, ...]]] = [
    ("amex", (range(34, 35), range(37, 38))),
    ("mastercard", (range(51, 56), range(2221, 2721))),
    ("discover", (range(6011, 6012), range(644, 650), range(65, 66))),
    ("jcb", (range(3528, 3590),)),
    ("diners", (range(300, 306), range(36, 37), range(38, 40))),
    ("unionpay", (range(62, 63),)),
    ("visa", (range(4, 5),)),
]


def normalize_card_number(number: str) -> str:
    """Card numbers are often typed in groups: drop the spaces and dashes."""
    return re.sub(r"[ -]", "", number)


def card_number_is_valid(number: str) -> bool:
    return bool(CARD_NUMBER.match(number)) and luhn.is_valid(number)


def card_brand(number: str) -> str:
    for brand, ranges in _BRANDS:
        for prefixes in ranges:
            width = len(str(prefixes.start))
            if number[:width].isdigit() and int(number[:width]) in prefixes:
                return brand
    return "unknown"


def card_is_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is good through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)


def normalize_iban(value: str) -> str:
    return re.sub(r"\s", "", value).upper()


def iban_problem(value: str) -> str | None:
    """Why an (already normalized) IBAN is invalid: `checksum` or `format`; None if valid."""
    if not IBAN_SHAPE.match(value):
        return "format"
    try:
        iban.validate(value)
    except InvalidChecksum:
        return "checksum"
    except ValidationError:
        return "format"
    return None
