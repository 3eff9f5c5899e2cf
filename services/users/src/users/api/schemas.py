"""Request and response bodies of the users API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from shared.json_schema import never_null

USERNAME_PATTERN = r"^[\w.@+-]+$"


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=254)
    username: str = Field(min_length=3, max_length=150, pattern=USERNAME_PATTERN)
    # The policy (length, not all digits, not the email/username) is checked in domain/.
    password: str = Field(
        max_length=128,
        # The rules JSON Schema can state: 8 characters at least, 72 at most (bytes are the
        # real limit), and a character that is not a digit somewhere.
        json_schema_extra={"format": "password", "minLength": 8, "maxLength": 72, "pattern": r"\D"},
        description="At least 8 characters and at most 72 bytes (UTF-8); not all digits;"
        " not the email address, its local part or the username. A weak one is a 422"
        " of type `password_too_weak`.",
    )
    first_name: str = Field(default="", max_length=150)
    last_name: str = Field(default="", max_length=150)


class ProfilePatch(BaseModel):
    """What a user may change of their own account. The email is the login and the
    password needs the current one: neither changes here."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(
        default=None,
        min_length=3,
        max_length=150,
        pattern=USERNAME_PATTERN,
        json_schema_extra=never_null,
    )
    first_name: str | None = Field(default=None, max_length=150, json_schema_extra=never_null)
    last_name: str | None = Field(default=None, max_length=150, json_schema_extra=never_null)

    @model_validator(mode="after")
    def _no_nulls(self) -> ProfilePatch:
        # Leaving a field out keeps it; sending null would blank a required field.
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may be left out but not null")
        return self


class UserStatusPatch(BaseModel):
    """What staff change of an account: active or not, staff or not."""

    model_config = ConfigDict(extra="forbid", strict=True)

    is_active: bool | None = Field(
        default=None,
        description="false deactivates: every token of the user stops working.",
        json_schema_extra=never_null,
    )
    is_staff: bool | None = Field(
        default=None,
        description="Tokens issued before a change stop working.",
        json_schema_extra=never_null,
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> UserStatusPatch:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may be left out but not null")
        return self


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254)
    password: str = Field(max_length=128, json_schema_extra={"format": "password"})


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh: str = Field(min_length=1, max_length=256)


class TokenPairResponse(BaseModel):
    access: str
    refresh: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name)
    expires_in: int = Field(description="Seconds until the access token expires.")


class AccessTokenResponse(BaseModel):
    """Cookie mode: the refresh token went into an HttpOnly cookie, not this body."""

    access: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name)
    expires_in: int = Field(description="Seconds until the access token expires.")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    username: str
    first_name: str
    last_name: str
    is_active: bool
    is_staff: bool
    created_at: datetime
    updated_at: datetime
