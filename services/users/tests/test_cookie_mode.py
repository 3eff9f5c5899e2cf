"""Cookie mode of login/refresh/logout (`X-Token-Transport: cookie`): the refresh token
in an HttpOnly cookie, CSRF double submit, and a short grace for tabs refreshing at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from shared.testing import bearer
from users.api.cookies import csrf_token
from users.db.tables import RefreshToken
from users.domain.tokens import hash_refresh_token

COOKIE_MODE = {"X-Token-Transport": "cookie"}


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    """Every Set-Cookie of the response, parsed: name -> morsel."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return dict(jar)


async def cookie_login(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.post(
        "/api/auth/login/",
        json={"email": "alice@example.com", "password": "correct horse battery"},
        headers=COOKIE_MODE,
    )
    client.cookies.clear()  # each test sends exactly the cookies it means to
    return response


async def cookie_post(
    client: httpx.AsyncClient, path: str, token: str | None, csrf: str | None
) -> httpx.Response:
    headers = dict(COOKIE_MODE)
    if token is not None:
        headers["Cookie"] = f"shop_refresh={token}"
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    response = await client.post(path, headers=headers)
    client.cookies.clear()
    return response


def refresh_of(response: httpx.Response) -> str:
    return str(set_cookies(response)["shop_refresh"].value)


@pytest.fixture
async def logged_in(client: httpx.AsyncClient, register: Any) -> httpx.Response:
    await register()
    response = await cookie_login(client)
    assert response.status_code == 200, response.text
    return response


async def test_login_sets_an_httponly_strict_cookie_and_keeps_the_token_out_of_the_body(
    client: httpx.AsyncClient, logged_in: httpx.Response
) -> None:
    body = logged_in.json()
    assert set(body) == {"access", "token_type", "expires_in"}
    cookies = set_cookies(logged_in)
    refresh = cookies["shop_refresh"]
    assert refresh["httponly"] is True
    assert refresh["samesite"] == "strict"
    assert refresh["path"] == "/api/auth/"
    assert not refresh["secure"]  # the test environment is not production
    assert int(refresh["max-age"]) > 0
    csrf = cookies["shop_csrf"]
    assert not csrf["httponly"]
    assert csrf["path"] == "/"
    assert csrf["samesite"] == "strict"
    assert csrf.value == csrf_token(refresh.value)
    me = await client.get("/api/users/me/", headers=bearer(body["access"]))
    assert me.status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"refresh_cookie_secure": True}])
async def test_cookies_are_secure_when_configured(logged_in: httpx.Response) -> None:
    cookies = set_cookies(logged_in)
    assert cookies["shop_refresh"]["secure"] is True
    assert cookies["shop_csrf"]["secure"] is True


async def test_refresh_from_the_cookie_rotates_it(
    client: httpx.AsyncClient, logged_in: httpx.Response
) -> None:
    token = refresh_of(logged_in)
    response = await cookie_post(client, "/api/auth/refresh/", token, csrf_token(token))
    assert response.status_code == 200, response.text
    assert "refresh" not in response.json()
    new = refresh_of(response)
    assert new != token
    assert set_cookies(response)["shop_csrf"].value == csrf_token(new)
    me = await client.get("/api/users/me/", headers=bearer(response.json()["access"]))
    assert me.status_code == 200
    # The new cookie works in turn.
    again = await cookie_post(client, "/api/auth/refresh/", new, csrf_token(new))
    assert again.status_code == 200


@pytest.mark.parametrize("csrf", [None, "", "forged", csrf_token("another-login's-token")])
async def test_refresh_without_the_matching_csrf_token_is_403_and_spends_nothing(
    client: httpx.AsyncClient, app: FastAPI, logged_in: httpx.Response, csrf: str | None
) -> None:
    token = refresh_of(logged_in)
    response = await cookie_post(client, "/api/auth/refresh/", token, csrf)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "set-cookie" not in response.headers
    async with app.state.engine.connect() as conn:
        rotated = (await conn.execute(select(RefreshToken.rotated_at))).scalars().all()
    assert rotated == [None]


async def test_refresh_without_the_cookie_is_401(client: httpx.AsyncClient) -> None:
    response = await cookie_post(client, "/api/auth/refresh/", None, "anything")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_json_refresh_without_a_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh/")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "refresh"]


async def test_two_tabs_refreshing_at_once_both_go_on(
    client: httpx.AsyncClient, app: FastAPI, logged_in: httpx.Response
) -> None:
    token = refresh_of(logged_in)
    first, second = await asyncio.gather(
        cookie_post(client, "/api/auth/refresh/", token, csrf_token(token)),
        cookie_post(client, "/api/auth/refresh/", token, csrf_token(token)),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    # Nothing was revoked, and whichever cookie the browser kept works on.
    async with app.state.engine.connect() as conn:
        revoked = (await conn.execute(select(RefreshToken.revoked_at))).scalars().all()
    assert revoked == [None, None, None]
    for response in (first, second):
        new = refresh_of(response)
        again = await cookie_post(client, "/api/auth/refresh/", new, csrf_token(new))
        assert again.status_code == 200


async def test_a_rotated_cookie_replayed_after_the_grace_revokes_the_family(
    client: httpx.AsyncClient, app: FastAPI, logged_in: httpx.Response
) -> None:
    token = refresh_of(logged_in)
    rotated = await cookie_post(client, "/api/auth/refresh/", token, csrf_token(token))
    successor = refresh_of(rotated)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(token))
            .values(rotated_at=datetime.now(UTC) - timedelta(seconds=11))
        )
    replay = await cookie_post(client, "/api/auth/refresh/", token, csrf_token(token))
    assert replay.status_code == 401
    after = await cookie_post(client, "/api/auth/refresh/", successor, csrf_token(successor))
    assert after.status_code == 401


async def test_the_json_flow_keeps_no_grace(client: httpx.AsyncClient, register: Any) -> None:
    await register()
    pair = (
        await client.post(
            "/api/auth/login/",
            json={"email": "alice@example.com", "password": "correct horse battery"},
        )
    ).json()
    first = await client.post("/api/auth/refresh/", json={"refresh": pair["refresh"]})
    assert first.status_code == 200
    assert "set-cookie" not in first.headers
    reuse = await client.post("/api/auth/refresh/", json={"refresh": pair["refresh"]})
    assert reuse.status_code == 401


async def test_logout_revokes_and_clears_the_cookies(
    client: httpx.AsyncClient, app: FastAPI, logged_in: httpx.Response
) -> None:
    token = refresh_of(logged_in)
    refused = await cookie_post(client, "/api/auth/logout/", token, None)
    assert refused.status_code == 403
    response = await cookie_post(client, "/api/auth/logout/", token, csrf_token(token))
    assert response.status_code == 204
    cleared = set_cookies(response)
    assert cleared["shop_refresh"]["max-age"] == "0"
    assert cleared["shop_refresh"]["path"] == "/api/auth/"
    assert cleared["shop_csrf"]["max-age"] == "0"
    after = await cookie_post(client, "/api/auth/refresh/", token, csrf_token(token))
    assert after.status_code == 401
