"""Every event the users service publishes (stream `users.events`). Never a password or
its hash: other services learn who a user is, not how they log in."""

from __future__ import annotations

from shared.events.envelope import EventCatalog, EventPayload

events = EventCatalog("users")


class UserState(EventPayload):
    user_id: int
    email: str
    username: str
    first_name: str
    last_name: str
    is_active: bool
    is_staff: bool


@events.declare(version=1)
class UserRegistered(UserState):
    """A new account exists."""


@events.declare(version=1)
class UserUpdated(UserState):
    """An account's profile, status (reactivated) or role changed."""


@events.declare(version=1)
class UserDeactivated(UserState):
    """A staff member deactivated an account: its tokens are refused everywhere."""
