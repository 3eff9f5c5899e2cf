"""Queries on users."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BigInteger, Row, Select, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from users.db.tables import User


def list_stmt() -> Select[User]:
    """Every account (paged by id)."""
    return select(User)


async def insert_user(session: AsyncSession, **values: Any) -> User | None:
    """The new user, or None if the email or username is taken (no exception, no
    aborted transaction)."""
    stmt = insert(User).values(**values).on_conflict_do_nothing().returning(User)
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_users(session: AsyncSession, rows: list[dict[str, Any]]) -> list[User]:
    """The users of `rows` that were new, in one statement (taken emails are skipped)."""
    stmt = insert(User).values(rows).on_conflict_do_nothing().returning(User)
    return list((await session.execute(stmt)).scalars())


async def taken_fields(session: AsyncSession, *, email: str, username: str) -> list[str]:
    rows = await session.execute(
        select(User.email, User.username).where(
            (User.email == email) | (func.lower(User.username) == username.lower())
        )
    )
    taken = set()
    for row_email, row_username in rows:
        if row_email == email:
            taken.add("email")
        if row_username.lower() == username.lower():
            taken.add("username")
    return sorted(taken)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def get_by_id(
    session: AsyncSession, user_id: int, *, for_update: bool = False
) -> User | None:
    return await session.get(User, user_id, with_for_update=for_update)


_users = cast(Table, User.__table__)
# A profile read (`/api/users/me/` on every page of an SPA) as a Core row, not an ORM
# object: no identity map, no instance state for one answer.
_PROFILE = select(_users).where(_users.c.id == bindparam("user_id", type_=BigInteger))


async def profile(conn: AsyncConnection, user_id: int) -> Row[Any] | None:
    """One account's row, for reading (a profile answer)."""
    found: Row[Any] | None = (await conn.execute(_PROFILE, {"user_id": user_id})).one_or_none()
    return found


async def username_taken(session: AsyncSession, username: str, *, other_than: int) -> bool:
    """Whether another account has this username, in any case."""
    stmt = select(User.id).where(
        func.lower(User.username) == username.lower(), User.id != other_than
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    )
