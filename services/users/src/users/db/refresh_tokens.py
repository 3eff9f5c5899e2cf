"""Queries on refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from users.db.tables import RefreshToken


async def add(
    session: AsyncSession,
    *,
    token_hash: bytes,
    family_id: uuid.UUID,
    user_id: int,
    expires_at: datetime,
    family_expires_at: datetime,
) -> None:
    session.add(
        RefreshToken(
            token_hash=token_hash,
            family_id=family_id,
            user_id=user_id,
            expires_at=min(expires_at, family_expires_at),
            family_expires_at=family_expires_at,
        )
    )
    await session.flush()


async def get_for_update(session: AsyncSession, token_hash: bytes) -> RefreshToken | None:
    """The token row, locked: two concurrent refreshes with one token are serialized, so
    the second one sees the first one's rotation."""
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, *, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user(session: AsyncSession, user_id: int, *, now: datetime) -> None:
    """End every login of a user (deactivation)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
