"""Who may see what: owners see their own things, staff see everything."""

from __future__ import annotations

from shared.auth import Principal


def can_read(user: Principal, owner_id: int) -> bool:
    return user.is_staff or user.id == owner_id


def owner_filter(user: Principal) -> int | None:
    """The owner id lists are limited to; None (no limit) for staff."""
    return None if user.is_staff else user.id
