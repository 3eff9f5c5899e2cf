"""What every service gets from the shared library, checked on the users service:
health, metrics, request ids, body limits, unknown routes, settings safety."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from users.settings import UsersSettings


async def test_health_live_and_ready(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_metrics_count_requests(client: httpx.AsyncClient) -> None:
    await client.get("/api/users/me/")
    response = await client.get("/metrics")
    assert response.status_code == 200
    lines = response.text.splitlines()
    counted = [line for line in lines if line.startswith("http_requests_total{")]
    assert any('handler="/api/users/me/"' in line and 'status="401"' in line for line in counted)
    # Buckets fine enough for millisecond requests: the dashboards' p99 reads them.
    buckets = [line for line in lines if line.startswith("http_request_duration_seconds_bucket")]
    assert any('handler="/api/users/me/"' in line and 'le="0.005"' in line for line in buckets)


async def test_metrics_label_every_request_by_its_route_template(
    client: httpx.AsyncClient,
) -> None:
    """The handler label is the matched route's template, whatever the answer and
    whichever layer gave it: a path parameter, a path without its slash, a method the
    path lacks (405), a body over the limit (413), no route at all ("none"); the health
    and metrics endpoints are not counted."""
    await client.get("/api/users/123/")
    await client.get("/api/users/me")
    await client.delete("/api/auth/login/")
    await client.post("/api/auth/register", content=b"x" * (2 * 1024 * 1024))
    await client.get("/api/nothing-here/")
    await client.get("/health/live")
    await client.get("/metrics")
    lines = (await client.get("/metrics")).text.splitlines()
    prefix = "http_requests_total{"
    counted = {line[len(prefix) : line.rindex("}")] for line in lines if line.startswith(prefix)}
    assert 'handler="/api/users/{user_id}/",method="GET",status="401"' in counted
    assert 'handler="/api/users/me/",method="GET",status="401"' in counted
    assert 'handler="/api/auth/login/",method="DELETE",status="405"' in counted
    assert 'handler="/api/auth/register/",method="POST",status="413"' in counted
    assert 'handler="none",method="GET",status="404"' in counted
    assert not [label for label in counted if "/health" in label or "/metrics" in label]


async def test_request_id_is_kept_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/health/live")
    assert len(made.headers["X-Request-ID"]) == 32
    # A header that could forge log lines is replaced, not echoed.
    forged = await client.get("/health/live", headers={"X-Request-ID": 'x" injected=1'})
    assert forged.headers["X-Request-ID"] != 'x" injected=1'


async def test_problem_carries_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/users/me/", headers={"X-Request-ID": "trace-me"})
    assert response.json()["request_id"] == "trace-me"


async def test_oversized_body_is_413_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register/",
        content=b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield b"x" * (512 * 1024)

    response = await client.post(
        "/api/auth/register/", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here/")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = await client.delete("/api/auth/login/")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


async def test_openapi_documents_problems_and_stable_operation_ids(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    login = schema["paths"]["/api/auth/login/"]["post"]
    assert login["operationId"] == "auth-login"
    assert "application/problem+json" in login["responses"]["422"]["content"]
    assert "application/problem+json" in login["responses"]["429"]["content"]


def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERS_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="default secret"):
        UsersSettings()
    monkeypatch.setenv("USERS_DATABASE_URL", "postgresql+asyncpg://u:s3cret@db/shop")
    assert UsersSettings().environment == "production"


async def test_a_method_a_path_lacks_is_405_naming_every_method_it_has(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    # GET and PATCH /api/users/me/ are two routes; Starlette's own Allow names only one.
    response = await client.delete("/api/users/me/", headers=alice)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "GET, PATCH"
