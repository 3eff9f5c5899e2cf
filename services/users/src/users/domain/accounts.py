"""Account use cases: register, log in, refresh, log out, create staff.

They orchestrate the repositories in `users.db` and leave the transaction to the caller
(they flush, never commit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import flush_unique
from shared.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from users.db import refresh_tokens, users
from users.db.login_failures import LoginFailures
from users.db.tables import User, outbox
from users.domain.passwords import PasswordHasher, check_password_policy
from users.domain.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from users.events.published import UserRegistered, UserUpdated
from users.keys import SigningKeys
from users.settings import UsersSettings

INVALID_CREDENTIALS = "The email or password is incorrect."


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Process-wide collaborators of the auth use cases."""

    settings: UsersSettings
    hasher: PasswordHasher
    keys: SigningKeys
    failures: LoginFailures


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: its family is revoked, and that must stick."""

    keep_changes = True


def _state(user: User) -> dict[str, object]:
    return {
        "user_id": user.id,
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
    }


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    email: str,
    username: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
) -> User:
    email = normalize_email(email)
    check_password_policy(password, email=email, username=username)
    user = await users.insert_user(
        session,
        email=email,
        username=username,
        password_hash=await hasher.hash(password),
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
    )
    if user is None:
        taken = await users.taken_fields(session, email=email, username=username)
        raise Conflict(
            f"That {' and '.join(taken) or 'account'} is already registered.", taken=taken
        )
    await outbox.publish(session, UserRegistered(**_state(user)), aggregate_id=user.id)
    return user


async def update_profile(
    session: AsyncSession,
    user_id: int,
    *,
    username: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
) -> User:
    """Change the caller's username or names; other services hear of it (UserUpdated).

    The row is locked, so concurrent edits of one account apply (and publish) in order.
    Two accounts racing for one username: the unique index decides, the loser gets 409.
    """
    user = await users.get_by_id(session, user_id, for_update=True)
    if user is None:
        raise NotFound("This account no longer exists.")
    changes = {
        name: value
        for name, value in (
            ("username", username),
            ("first_name", first_name),
            ("last_name", last_name),
        )
        if value is not None and value != getattr(user, name)
    }
    if not changes:
        return user
    taken = Conflict("That username is already registered.", taken=["username"])
    if "username" in changes and await users.username_taken(
        session, changes["username"], other_than=user.id
    ):
        raise taken
    for name, value in changes.items():
        setattr(user, name, value)
    await flush_unique(session, taken)
    await outbox.publish(session, UserUpdated(**_state(user)), aggregate_id=user.id)
    return user


async def _issue_pair(
    session: AsyncSession, ctx: AuthContext, user: User, *, family_id: uuid.UUID, now: datetime
) -> TokenPair:
    refresh = new_refresh_token()
    await refresh_tokens.add(
        session,
        token_hash=hash_refresh_token(refresh),
        family_id=family_id,
        user_id=user.id,
        expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds),
    )
    access = issue_access_token(
        user_id=user.id,
        is_staff=user.is_staff,
        keys=ctx.keys,
        issuer=ctx.settings.jwt_issuer,
        audience=ctx.settings.jwt_audience,
        now=now,
        ttl=timedelta(seconds=ctx.settings.access_token_ttl_seconds),
    )
    return TokenPair(
        access=access, refresh=refresh, expires_in=ctx.settings.access_token_ttl_seconds
    )


async def login(
    session: AsyncSession, ctx: AuthContext, *, email: str, password: str, address: str
) -> TokenPair:
    """A new token pair (a new token family), or 401 that looks the same whether or not
    the email exists, or 429 once an account or address has failed too often."""
    email = normalize_email(email)
    wait = await ctx.failures.seconds_locked(email=email, address=address)
    if wait:
        raise TooManyRequests("Too many failed logins; try again later.", retry_after=wait)
    user = await users.get_by_email(session, email)
    ok, new_hash = await ctx.hasher.verify(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await ctx.failures.record_failure(email=email, address=address)
        raise Unauthorized(INVALID_CREDENTIALS)
    if new_hash:
        user.password_hash = new_hash
    await ctx.failures.clear_account(email=email)
    return await _issue_pair(session, ctx, user, family_id=uuid.uuid4(), now=datetime.now(UTC))


async def refresh(
    session: AsyncSession,
    ctx: AuthContext,
    *,
    token: str,
    reuse_grace: timedelta = timedelta(0),
) -> TokenPair:
    """Rotate: the presented token is spent and a new pair of the same family issued.

    Within `reuse_grace` of its rotation a spent token still gets a pair (of the same
    family, so logout or a later reuse ends both): two browser tabs that refresh with
    one cookie at once both go on, while a token replayed later revokes the family."""
    now = datetime.now(UTC)
    row = await refresh_tokens.get_for_update(session, hash_refresh_token(token))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    in_grace = (
        row.rotated_at is not None
        and reuse_grace > timedelta(0)
        and now - row.rotated_at <= reuse_grace
    )
    if row.rotated_at is not None and not in_grace:
        await refresh_tokens.revoke_family(session, row.family_id, now=now)
        raise RefreshTokenReused("The refresh token was already used; log in again.")
    user = await users.get_by_id(session, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    if row.rotated_at is None:
        row.rotated_at = now
    return await _issue_pair(session, ctx, user, family_id=row.family_id, now=now)


async def logout(session: AsyncSession, *, token: str) -> None:
    """End the session the refresh token belongs to. Unknown tokens are ignored, as RFC
    7009 asks, so the answer tells nothing about which tokens exist."""
    row = await refresh_tokens.get_for_update(session, hash_refresh_token(token))
    if row is not None:
        await refresh_tokens.revoke_family(session, row.family_id, now=datetime.now(UTC))


async def save_staff(
    session: AsyncSession, hasher: PasswordHasher, *, email: str, password: str, username: str
) -> tuple[User, bool]:
    """Create a staff account, or promote an existing one and reset its password.
    Returns (user, created)."""
    email = normalize_email(email)
    check_password_policy(password, email=email, username=username)
    user = await users.get_by_email(session, email)
    if user is None:
        user = await register(
            session, hasher, email=email, username=username, password=password, is_staff=True
        )
        return user, True
    user.is_staff = True
    user.is_active = True
    user.password_hash = await hasher.hash(password)
    await session.flush()
    await outbox.publish(session, UserUpdated(**_state(user)), aggregate_id=user.id)
    return user, False
