"""Password policy and hashing (bcrypt through passlib, off the event loop)."""

from __future__ import annotations

import asyncio

from passlib.context import CryptContext

from shared.errors import Unprocessable

MIN_LENGTH = 8
# bcrypt reads only the first 72 bytes; longer passwords would silently be truncated.
MAX_BYTES = 72


def check_password_policy(password: str, *, email: str, username: str) -> None:
    """Refuse weak passwords with a 422 that names the field."""

    def weak(reason: str) -> Unprocessable:
        return Unprocessable(reason, loc=("body", "password"), code="password_too_weak")

    if len(password) < MIN_LENGTH:
        raise weak(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password.encode()) > MAX_BYTES:
        raise weak(f"The password must be at most {MAX_BYTES} bytes long.")
    if password.isdigit():
        raise weak("The password must not be all digits.")
    lowered = password.casefold()
    if lowered in (email.casefold(), username.casefold(), email.split("@")[0].casefold()):
        raise weak("The password must not be your email address or username.")


class PasswordHasher:
    """bcrypt hashing that never blocks the event loop (a hash costs ~0.25 s at 12 rounds)."""

    def __init__(self, *, rounds: int) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)
        # Checked against when the email is unknown, so both paths cost one bcrypt verify.
        self._decoy = self._context.hash("decoy password for unknown accounts")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._context.hash, password)

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one uses outdated parameters)."""
        if hashed is None:
            await asyncio.to_thread(self._context.verify, password, self._decoy)
            return False, None
        ok, new_hash = await asyncio.to_thread(self._context.verify_and_update, password, hashed)
        return bool(ok), new_hash
