"""Request and response bodies of /api/payments/.

Error messages name the field and never repeat its value: a rejected card number must
not come back in a response, where proxies and browsers may log it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from payments.domain.cards import (
    card_brand,
    card_is_expired,
    card_number_is_valid,
    iban_problem,
    normalize_card_number,
    normalize_iban,
)
from payments.provider.base import BankAccount, CardDetails, PaymentDetails, PayPalAccount
from shared.api.ids import BodyId

Method = Literal["card", "paypal", "bank_transfer"]
# Which field carries the details of each method.
DETAILS_FIELD = {"card": "card", "paypal": "paypal_email", "bank_transfer": "bank_account"}
HolderName = Annotated[str, Field(min_length=1, max_length=200)]


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(
        max_length=40,
        description="12 to 19 digits (spaces and dashes allowed), passing the Luhn check.",
    )
    exp_month: int = Field(ge=1, le=12, strict=True)
    exp_year: int = Field(
        ge=2000, le=2100, strict=True, description="Four digits; not in the past."
    )
    cvc: str = Field(pattern=r"^\d{3,4}$", description="3 or 4 digits.")
    holder_name: HolderName | None = None

    def identity(self) -> dict[str, Any]:
        """What tells this card apart for idempotency, without the number or the CVC."""
        return {
            "brand": card_brand(self.number),
            "last4": self.number[-4:],
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "holder_name": self.holder_name,
        }

    @field_validator("number")
    @classmethod
    def _luhn(cls, number: str) -> str:
        number = normalize_card_number(number)
        if not card_number_is_valid(number):
            raise PydanticCustomError(
                "card_number_invalid",
                "Not a valid card number (12 to 19 digits passing the Luhn check).",
            )
        return number

    @field_validator("exp_year")
    @classmethod
    def _not_expired(cls, exp_year: int, info: ValidationInfo) -> int:
        exp_month = info.data.get("exp_month")
        if exp_month is not None and card_is_expired(exp_month, exp_year, datetime.now(UTC)):
            raise PydanticCustomError("card_expired", "The card has expired.")
        return exp_year


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: str = Field(max_length=50, description="An IBAN with a valid checksum.")
    holder_name: HolderName

    @field_validator("iban")
    @classmethod
    def _checksum(cls, iban: str) -> str:
        iban = normalize_iban(iban)
        problem = iban_problem(iban)
        if problem == "checksum":
            raise PydanticCustomError("iban_checksum", "The IBAN's check digits are wrong.")
        if problem is not None:
            raise PydanticCustomError("iban_invalid", "Not a valid IBAN.")
        return iban


def _details_per_method() -> dict[str, Any]:
    """The document's statement of `_matches_method`: each method requires its details
    and refuses the others' (JSON Schema `if`/`then`, OpenAPI 3.1)."""
    return {
        "allOf": [
            {
                "if": {"properties": {"method": {"const": method}}, "required": ["method"]},
                "then": {
                    "required": [wanted],
                    "properties": {
                        field: {"not": {"type": "null"}} if field == wanted else {"type": "null"}
                        for field in DETAILS_FIELD.values()
                    },
                },
            }
            for method, wanted in DETAILS_FIELD.items()
        ]
    }


class PaymentIn(BaseModel):
    """Pay an order with one method: `card`, `paypal_email` or `bank_account`, matching
    `method`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_details_per_method())

    order_id: BodyId
    method: Method
    amount: Decimal | None = Field(
        default=None,
        max_digits=12,
        decimal_places=2,
        description="Optional; if sent it must equal the order's total. A decimal string (a"
        " JSON number is accepted), at most 10 digits before the point and 2 after.",
    )
    card: CardIn | None = Field(
        default=None,
        validate_default=True,
        description="Required when `method` is `card`, and refused with any other method.",
    )
    paypal_email: EmailStr | None = Field(
        default=None,
        max_length=254,
        validate_default=True,
        description="Required when `method` is `paypal`, and refused with any other method.",
    )
    bank_account: BankAccountIn | None = Field(
        default=None,
        validate_default=True,
        description="Required when `method` is `bank_transfer`, and refused otherwise.",
    )

    @field_validator("card", "paypal_email", "bank_account")
    @classmethod
    def _matches_method(cls, value: object, info: ValidationInfo) -> object:
        method = info.data.get("method")
        if method is None:
            return value  # the method itself is invalid, and reported
        wanted = DETAILS_FIELD[method] == info.field_name
        if wanted and value is None:
            raise PydanticCustomError("missing", f"Required for method {method}.")
        if not wanted and value is not None:
            raise PydanticCustomError("extra_forbidden", f"Not allowed with method {method}.")
        return value

    def identity(self) -> dict[str, Any]:
        """The request as its idempotency fingerprint sees it: the card by `identity()`."""
        fields = self.model_dump(mode="json", exclude={"card"})
        fields["card"] = self.card.identity() if self.card is not None else None
        return fields

    def details(self) -> PaymentDetails:
        if self.card is not None:
            card = self.card
            return CardDetails(
                number=card.number,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                cvc=card.cvc,
                holder_name=card.holder_name,
            )
        if self.paypal_email is not None:
            return PayPalAccount(email=self.paypal_email)
        assert self.bank_account is not None
        return BankAccount(iban=self.bank_account.iban, holder_name=self.bank_account.holder_name)


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    status: Literal["pending", "succeeded", "failed", "refunded"]
    amount: Decimal = Field(description="The order's total; decimal string.")
    currency: str
    method: Method
    card_brand: str | None = None
    card_last4: str | None = None
    failure_reason: str | None = Field(
        default=None, description="Why a `failed` payment failed (a reason code)."
    )
    created_at: datetime
