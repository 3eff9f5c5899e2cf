"""Tables of the `users` schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import MAPPER_ARGS, service_metadata
from shared.events.outbox import Outbox

SCHEMA = "users"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    __mapper_args__ = MAPPER_ARGS


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Stored lower-cased, so the plain unique constraint is case-insensitive too.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    username: Mapped[str] = mapped_column(String(150))
    password_hash: Mapped[str] = mapped_column(String(128))
    first_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


# Usernames are unique regardless of case ("Alice" and "alice" are one user).
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class RefreshToken(Base):
    """One refresh token. Rotation links tokens of one login into a family: reusing a
    rotated token revokes the whole family (OAuth 2.0 Security BCP, section 4.14)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The login's absolute end: rotation never issues a token that outlives it.
    family_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the token was exchanged for a new pair; a second use is a reuse.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Events published with the data they describe (see shared.events).
outbox = Outbox(Base.metadata)
