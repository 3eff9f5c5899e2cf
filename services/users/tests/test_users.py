"""GET /api/users/me/, /api/users/ (staff) and /api/users/{id}/ (self or staff)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.testing import bearer, count_statements


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/users/me/")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_me_with_and_without_trailing_slash(
    client: httpx.AsyncClient, register: Any, login: Any
) -> None:
    user = await register()
    access = (await login())["access"]
    for path in ("/api/users/me/", "/api/users/me"):
        response = await client.get(path, headers=bearer(access))
        assert response.status_code == 200
        assert response.json()["id"] == user["id"]


async def test_users_can_see_themselves_but_not_others(
    client: httpx.AsyncClient, register: Any, login: Any
) -> None:
    alice = await register()
    bob = await register("bob@example.com")
    access = (await login())["access"]
    assert (
        await client.get(f"/api/users/{alice['id']}/", headers=bearer(access))
    ).status_code == 200
    other = await client.get(f"/api/users/{bob['id']}/", headers=bearer(access))
    assert other.status_code == 404
    assert "bob" not in other.text
    missing = await client.get("/api/users/999999/", headers=bearer(access))
    assert missing.status_code == 404
    assert other.json()["detail"] == missing.json()["detail"]


async def test_staff_see_anyone(
    client: httpx.AsyncClient, register: Any, login: Any, promote_to_staff: Any
) -> None:
    staff = await register()
    bob = await register("bob@example.com")
    await promote_to_staff(staff["id"])
    access = (await login())["access"]
    response = await client.get(f"/api/users/{bob['id']}/", headers=bearer(access))
    assert response.status_code == 200
    assert response.json()["email"] == "bob@example.com"
    assert (await client.get("/api/users/999999/", headers=bearer(access))).status_code == 404


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "1.5", str(2**70)])
async def test_bad_user_id_is_422(
    client: httpx.AsyncClient, register: Any, login: Any, user_id: str
) -> None:
    await register()
    access = (await login())["access"]
    response = await client.get(f"/api/users/{user_id}/", headers=bearer(access))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_user_list_is_staff_only(
    client: httpx.AsyncClient, register: Any, login: Any
) -> None:
    await register()
    assert (await client.get("/api/users/")).status_code == 401
    access = (await login())["access"]
    response = await client.get("/api/users/", headers=bearer(access))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_user_list_pages_forward_and_back(
    client: httpx.AsyncClient, app: FastAPI, register: Any, login: Any, promote_to_staff: Any
) -> None:
    staff = await register()
    await promote_to_staff(staff["id"])
    for i in range(6):
        await register(f"user{i}@example.com")
    headers = bearer((await login())["access"])

    seen: list[int] = []
    pages = []
    url: str | None = "/api/users/?limit=3"
    while url:
        with count_statements(app.state.engine) as counter:
            response = await client.get(url, headers=headers)
        assert response.status_code == 200
        # One query per page, however many rows it shows.
        assert counter.count == 1
        body = response.json()
        pages.append(body)
        seen += [u["id"] for u in body["results"]]
        url = body["next"]
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 7
    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    assert pages[0]["previous"] is None

    back = await client.get(pages[2]["previous"], headers=headers)
    assert [u["id"] for u in back.json()["results"]] == seen[3:6]
    first = await client.get(back.json()["previous"], headers=headers)
    assert [u["id"] for u in first.json()["results"]] == seen[:3]
    assert first.json()["previous"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "cursor=garbage", "cursor=e30"]
)
async def test_bad_paging_parameters_are_422(
    client: httpx.AsyncClient, register: Any, login: Any, promote_to_staff: Any, query: str
) -> None:
    staff = await register()
    await promote_to_staff(staff["id"])
    headers = bearer((await login())["access"])
    response = await client.get(f"/api/users/?{query}", headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
