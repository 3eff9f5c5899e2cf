"""Request and response bodies of the users API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=254)
    username: str = Field(min_length=3, max_length=150, pattern=r"^[\w.@+-]+$")
    # The policy (length, not all digits, not the email/username) is checked in domain/.
    password: str = Field(max_length=128, json_schema_extra={"format": "password"})
    first_name: str = Field(default="", max_length=150)
    last_name: str = Field(default="", max_length=150)


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
