"""Business metrics of the users service: logins by outcome and refresh-token reuse."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import REGISTRY

PASSWORD = "correct horse battery"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_logins_are_counted_by_outcome(client: httpx.AsyncClient, register: Any) -> None:
    await register()
    success = sample("shop_logins_total", outcome="success")
    failure = sample("shop_logins_total", outcome="failure")
    ok = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
    )
    bad = await client.post(
        "/api/auth/login/", json={"email": "alice@example.com", "password": "not it at all"}
    )
    assert (ok.status_code, bad.status_code) == (200, 401)
    assert sample("shop_logins_total", outcome="success") == success + 1
    assert sample("shop_logins_total", outcome="failure") == failure + 1
    exposed = (await client.get("/metrics")).text
    assert 'shop_logins_total{outcome="success"}' in exposed


async def test_refresh_token_reuse_is_counted_once(
    client: httpx.AsyncClient, register: Any, login: Any
) -> None:
    await register()
    pair = await login()
    before = sample("shop_refresh_token_reuse_total")
    assert (await client.post("/api/auth/refresh/", json={"refresh": pair["refresh"]})).is_success
    assert sample("shop_refresh_token_reuse_total") == before
    reuse = await client.post("/api/auth/refresh/", json={"refresh": pair["refresh"]})
    assert reuse.status_code == 401
    assert sample("shop_refresh_token_reuse_total") == before + 1
