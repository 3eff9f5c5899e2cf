"""`/api/users/`: profiles. Customers see themselves; staff see everyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from shared.api.ids import PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser, StaffUser
from shared.db import DbSession, read_connection
from shared.errors import NotFound
from shared.pagination import Page, PageParams, keyset_page, page_params
from users.api.deps import Auth, TokenRevocations
from users.api.schemas import ProfilePatch, UserOut, UserStatusPatch
from users.db import users
from users.db.tables import User
from users.domain import accounts

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/me/", responses=problem_responses(401, 404))
async def me(user: CurrentUser, request: Request) -> UserOut:
    """The caller's own profile."""
    # One statement in autocommit: no BEGIN and COMMIT around it (3 round trips -> 1).
    async with read_connection(request) as conn:
        found = await users.profile(conn, user.id)
    if found is None:
        raise NotFound("This account no longer exists.")
    return UserOut.model_validate(found)


@router.patch("/me/", responses=problem_responses(401, 404, 409, 422))
async def update_me(body: ProfilePatch, user: CurrentUser, session: DbSession) -> UserOut:
    """Change your username or names; fields left out stay as they are."""
    updated = await accounts.update_profile(session, user.id, **body.model_dump(exclude_unset=True))
    return UserOut.model_validate(updated)


@router.get("/", responses=problem_responses(401, 403, 422))
async def list_users(
    _: StaffUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[UserOut]:
    """Every account, oldest first (staff only)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        users.list_stmt(),
        key_columns=[User.id],
        key_of=lambda u: (u.id,),
        params=page,
        request=request,
    )
    return Page(
        results=[UserOut.model_validate(u) for u in rows], next=next_url, previous=previous_url
    )


@router.get("/{user_id}/", responses=problem_responses(401, 404, 422))
async def get_user(user_id: PathId, caller: CurrentUser, request: Request) -> UserOut:
    """One profile: your own, or anyone's for staff. Others answer 404, as if absent."""
    if user_id != caller.id and not caller.is_staff:
        raise NotFound("No such user.")
    async with read_connection(request) as conn:
        found = await users.profile(conn, user_id)
    if found is None:
        raise NotFound("No such user.")
    return UserOut.model_validate(found)


@router.patch("/{user_id}/", responses=problem_responses(401, 403, 404, 409, 422))
async def change_user(
    user_id: PathId,
    body: UserStatusPatch,
    caller: StaffUser,
    session: DbSession,
    auth: Auth,
    revocations: TokenRevocations,
) -> UserOut:
    """Deactivate or reactivate an account, or change its staff flag (staff only; not
    your own). A deactivated or demoted user's tokens stop working within seconds."""
    changed = await accounts.change_status(
        session,
        auth,
        revocations,
        user_id,
        actor_id=caller.id,
        **body.model_dump(exclude_unset=True),
    )
    return UserOut.model_validate(changed)
