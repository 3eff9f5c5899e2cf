"""Account use cases: register, log in, refresh, log out, create staff.

They orchestrate the repositories in `users.db` and leave the transaction to the caller
(they flush, never commit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import shop_metrics
from shared.auth import Revocations
from shared.db import flush_unique
from shared.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from shared.events.envelope import new_event
from users.db import refresh_tokens, users
from users.db.login_failures import LoginFailures
from users.db.tables import User, outbox
from users.domain.passwords import PasswordHasher, check_password_policy
from users.domain.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from users.events.published import UserDeactivated, UserRegistered, UserUpdated
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
    # Autocommit sessions for the lookup before a password check: the connection goes
    # back to the pool before bcrypt runs (~0.25 s), so a login storm cannot drain it.
    read_sessions: async_sessionmaker[AsyncSession]


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
    # Hashed before the first statement, so no connection is held while bcrypt runs.
    password_hash = await hasher.hash(password)
    user = await users.insert_user(
        session,
        email=email,
        username=username,
        password_hash=password_hash,
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


async def register_many(
    session: AsyncSession, *, people: list[tuple[str, str]], password_hash: str
) -> int:
    """Customers in bulk for load tests: (email, username) pairs sharing one password
    hash (bcrypt costs ~0.25 s per hash: test data does not need one each). Accounts that
    exist are skipped; every new one is announced like a registration. Returns how many
    were new."""
    rows = [
        {"email": normalize_email(email), "username": username, "password_hash": password_hash}
        for email, username in people
    ]
    created = await users.insert_users(session, rows) if rows else []
    await outbox.add(
        session,
        *(new_event(UserRegistered(**_state(user)), aggregate_id=user.id) for user in created),
    )
    return len(created)


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


async def change_status(
    session: AsyncSession,
    ctx: AuthContext,
    revocations: Revocations,
    user_id: int,
    *,
    actor_id: int,
    is_active: bool | None = None,
    is_staff: bool | None = None,
) -> User:
    """Staff deactivate, reactivate, promote or demote an account.

    Deactivation ends every login (refresh tokens) and publishes UserDeactivated; the
    other changes publish UserUpdated. Deactivation and any change of the staff flag also
    write a revocation that every service checks (shared.auth.Revocations), so tokens
    issued before stop working within seconds instead of at their expiry. It is written
    before the commit: if the commit then fails, the user merely logs in again.
    """
    if user_id == actor_id:
        raise Conflict("Staff cannot deactivate or demote their own account.")
    user = await users.get_by_id(session, user_id, for_update=True)
    if user is None:
        raise NotFound("No such user.")
    deactivated = is_active is False and user.is_active
    role_changed = is_staff is not None and is_staff != user.is_staff
    reactivated = is_active is True and not user.is_active
    if not (deactivated or role_changed or reactivated):
        return user
    now = datetime.now(UTC)
    if is_active is not None:
        user.is_active = is_active
    if is_staff is not None:
        user.is_staff = is_staff
    await session.flush()
    if deactivated:
        await refresh_tokens.revoke_user(session, user.id, now=now)
    if deactivated or role_changed:
        await revocations.revoke(
            user.id, at=now.timestamp(), ttl_seconds=ctx.settings.access_token_ttl_seconds + 60
        )
    event = UserDeactivated if deactivated else UserUpdated
    await outbox.publish(session, event(**_state(user)), aggregate_id=user.id)
    return user


async def _issue_pair(
    session: AsyncSession,
    ctx: AuthContext,
    user: User,
    *,
    family_id: uuid.UUID,
    family_expires_at: datetime,
    now: datetime,
) -> TokenPair:
    refresh = new_refresh_token()
    await refresh_tokens.add(
        session,
        token_hash=hash_refresh_token(refresh),
        family_id=family_id,
        user_id=user.id,
        expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds),
        family_expires_at=family_expires_at,
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
    the email exists, or 429 while this address must wait (see users.db.login_failures);
    a 429 checks no password, so it tells nothing about it."""
    email = normalize_email(email)
    wait = await ctx.failures.seconds_locked(email=email, address=address)
    if wait:
        # Rejected requests commit nothing: they are counted as they happen.
        shop_metrics.LOGINS.labels(outcome="locked").inc()
        raise TooManyRequests("Too many failed logins; try again later.", retry_after=wait)
    async with ctx.read_sessions() as reader:
        user = await users.get_by_email(reader, email)
    # No connection is held from here to the writes below: `session` has not begun yet.
    ok, new_hash = await ctx.hasher.verify(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await ctx.failures.record_failure(email=email, address=address)
        shop_metrics.LOGINS.labels(outcome="failure").inc()
        raise Unauthorized(INVALID_CREDENTIALS)
    if new_hash:
        await users.set_password_hash(session, user.id, new_hash)
    await ctx.failures.record_success(email=email, address=address)
    shop_metrics.count(session, shop_metrics.LOGINS, outcome="success")
    now = datetime.now(UTC)
    max_age = timedelta(seconds=ctx.settings.refresh_family_max_age_seconds)
    return await _issue_pair(
        session, ctx, user, family_id=uuid.uuid4(), family_expires_at=now + max_age, now=now
    )


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
    if (
        row is None
        or row.revoked_at is not None
        or min(row.expires_at, row.family_expires_at) <= now
    ):
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    in_grace = (
        row.rotated_at is not None
        and reuse_grace > timedelta(0)
        and now - row.rotated_at <= reuse_grace
    )
    if row.rotated_at is not None and not in_grace:
        await refresh_tokens.revoke_family(session, row.family_id, now=now)
        shop_metrics.count(session, shop_metrics.REFRESH_TOKEN_REUSE)  # keep_changes commits
        raise RefreshTokenReused("The refresh token was already used; log in again.")
    user = await users.get_by_id(session, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The refresh token is invalid, expired or revoked.")
    if row.rotated_at is None:
        row.rotated_at = now
    return await _issue_pair(
        session,
        ctx,
        user,
        family_id=row.family_id,
        family_expires_at=row.family_expires_at,
        now=now,
    )


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
