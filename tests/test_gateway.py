"""The users service through the real nginx gateway, as a client of the shop sees it."""

from __future__ import annotations

import json
import uuid

import httpx

from shared.testing import bearer

PASSWORD = "correct horse battery"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def new_account(gateway: httpx.Client) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    response = gateway.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    return email


def test_register_login_me_refresh_logout(gateway: httpx.Client) -> None:
    email = new_account(gateway)
    login = gateway.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()

    me = gateway.get("/api/users/me/", headers=bearer(tokens["access"]))
    assert me.status_code == 200
    assert me.json()["email"] == email

    refreshed = gateway.post("/api/auth/refresh/", json={"refresh": tokens["refresh"]})
    assert refreshed.status_code == 200
    new_refresh = refreshed.json()["refresh"]

    assert gateway.post("/api/auth/logout/", json={"refresh": new_refresh}).status_code == 204
    after = gateway.post("/api/auth/refresh/", json={"refresh": new_refresh})
    assert after.status_code == 401
    assert after.headers["content-type"] == "application/problem+json"


def test_paths_work_without_trailing_slash(gateway: httpx.Client) -> None:
    email = new_account(gateway)
    login = gateway.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    me = gateway.get("/api/users/me", headers=bearer(login.json()["access"]))
    assert me.status_code == 200


def test_two_megabyte_body_is_413_problem(gateway: httpx.Client) -> None:
    body = json.dumps({"email": "x" * (2 * 1024 * 1024)})
    response = gateway.post(
        "/api/auth/register/", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["request_id"] == response.headers["x-request-id"]


def test_malformed_json_is_400_problem(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/api/auth/login/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_request_id_reaches_the_service_and_comes_back(gateway: httpx.Client, stack) -> None:  # type: ignore[no-untyped-def]
    response = gateway.get("/api/users/me/", headers={"X-Request-ID": "gateway-test-42"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "gateway-test-42"
    assert response.json()["request_id"] == "gateway-test-42"
    made = gateway.get("/api/users/me/")
    assert len(made.headers["x-request-id"]) == 32
    assert made.json()["request_id"] == made.headers["x-request-id"]
    unsafe = gateway.get("/api/users/me/", headers={"X-Request-ID": 'a" b'})
    assert unsafe.headers["x-request-id"] != 'a" b'


def test_access_log_is_json_with_request_id_and_upstream_time(gateway: httpx.Client, stack) -> None:  # type: ignore[no-untyped-def]
    gateway.get("/.well-known/jwks.json", headers={"X-Request-ID": "log-line-check"})
    lines = [json.loads(line) for line in stack.access_log.read_text().splitlines()]
    entry = next(e for e in lines if e["request_id"] == "log-line-check")
    assert entry["status"] == 200
    assert entry["uri"] == "/.well-known/jwks.json"
    assert entry["upstream_time"]


def test_security_headers_on_answers_and_errors(gateway: httpx.Client) -> None:
    for response in (
        gateway.get("/.well-known/jwks.json"),
        gateway.get("/api/users/me/"),
        gateway.get("/no/such/path"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value


def test_unknown_paths_and_internal_endpoints_are_404_problems(gateway: httpx.Client) -> None:
    for path in ("/no/such/path", "/metrics", "/health/ready"):
        response = gateway.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_requests_are_spread_over_replicas(gateway: httpx.Client) -> None:
    served_by = {gateway.get("/.well-known/jwks.json").headers["x-served-by"] for _ in range(20)}
    assert served_by == {"users-1", "users-2"}
