"""A deactivated or demoted user loses access in every service within seconds, through
the real nginx, across replicas (the users service runs two)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial

import httpx

from shared.testing import bearer
from shared.testing import eventually as poll

PASSWORD = "correct horse battery"
# Each service's cache of a revocation lives 1 s; this only bounds the wait.
WITHIN_SECONDS = 15
eventually = partial(poll, seconds=WITHIN_SECONDS)


def account(gateway: httpx.Client) -> tuple[int, str]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    registered = gateway.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert registered.status_code == 201, registered.text
    return registered.json()["id"], email


def login(gateway: httpx.Client, email: str) -> dict[str, str]:
    response = gateway.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return bearer(response.json()["access"])


CUSTOMER_READS = ["/api/users/me/", "/api/shopping-carts/", "/api/orders/", "/api/payments/"]
STAFF_READS = ["/api/users/", "/api/reports/low-stock/", "/api/reports/customer-stats/"]


def statuses(gateway: httpx.Client, paths: list[str], headers: dict[str, str]) -> set[int]:
    return {gateway.get(path, headers=headers).status_code for path in paths}


def refused_everywhere(
    gateway: httpx.Client, paths: list[str], headers: dict[str, str]
) -> Callable[[], bool]:
    def check() -> bool:
        # Several rounds, so that every replica behind nginx has answered.
        return all(statuses(gateway, paths, headers) == {401} for _ in range(3))

    return check


def test_deactivated_and_demoted_users_are_refused_by_every_service(
    gateway: httpx.Client, mint_token: Callable[..., str]
) -> None:
    staff = bearer(mint_token(900_001, staff=True))
    alice_id, alice_email = account(gateway)
    bob_id, bob_email = account(gateway)
    promoted = gateway.patch(f"/api/users/{bob_id}/", json={"is_staff": True}, headers=staff)
    assert promoted.status_code == 200, promoted.text
    alice, bob = login(gateway, alice_email), login(gateway, bob_email)
    assert statuses(gateway, CUSTOMER_READS, alice) == {200}
    assert statuses(gateway, STAFF_READS + CUSTOMER_READS, bob) == {200}

    off = gateway.patch(f"/api/users/{alice_id}/", json={"is_active": False}, headers=staff)
    assert off.status_code == 200, off.text
    down = gateway.patch(f"/api/users/{bob_id}/", json={"is_staff": False}, headers=staff)
    assert down.status_code == 200, down.text

    eventually(refused_everywhere(gateway, CUSTOMER_READS, alice), what="alice refused")
    eventually(refused_everywhere(gateway, STAFF_READS, bob), what="bob's staff token refused")
    # Bob logs in again as the customer he now is; alice cannot log in at all.
    bob = login(gateway, bob_email)
    assert statuses(gateway, CUSTOMER_READS, bob) == {200}
    assert statuses(gateway, STAFF_READS, bob) == {403}
    again = gateway.post("/api/auth/login/", json={"email": alice_email, "password": PASSWORD})
    assert again.status_code == 401


def test_logout_revokes_the_access_token_it_was_called_with_in_every_service(
    gateway: httpx.Client,
) -> None:
    _, email = account(gateway)
    response = gateway.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    first = response.json()
    kept = login(gateway, email)  # another login of the same user, on another device
    access = bearer(first["access"])
    assert statuses(gateway, CUSTOMER_READS, access) == {200}

    out = gateway.post("/api/auth/logout/", json={"refresh": first["refresh"]}, headers=access)
    assert out.status_code == 204, out.text

    eventually(refused_everywhere(gateway, CUSTOMER_READS, access), what="the token refused")
    # Only that token: the user's other login goes on working.
    assert statuses(gateway, CUSTOMER_READS, kept) == {200}
