"""The gateway's rate limits come from the environment (GATEWAY_AUTH_RATE, ..._BURST,
GATEWAY_API_RATE, ..._BURST) and its access log can be a buffered file: real nginx in
front of the test stack's users replicas, one nginx per test."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Stack, render

TIMEOUT = httpx.Timeout(15.0)
LOG_DEADLINE_SECONDS = 30


def users_only(stack: Stack) -> list[Any]:
    return [s for s in stack.services if s.name == "users"]


def login_payload() -> dict[str, str]:
    """Refused with 422 before the service counts a failed login (no lockout)."""
    return {"email": f"{uuid.uuid4().hex[:12]}@example.com"}


def test_limits_default_when_the_environment_says_nothing() -> None:
    assert render.Limits.from_env({}) == render.Limits()
    assert render.Limits.from_env({"GATEWAY_AUTH_RATE": " "}) == render.Limits()
    assert render.Limits() == render.Limits("10r/m", 5, "100r/s", 200)


@pytest.mark.parametrize(
    ("name", "value"),
    [("GATEWAY_AUTH_RATE", "fast"), ("GATEWAY_API_RATE", "10/s"), ("GATEWAY_API_BURST", "-1")],
)
def test_a_malformed_limit_stops_the_render(tmp_path: Path, name: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy/nginx/render.py"), "--out", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", name: value},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert name in result.stderr or value in result.stderr
    assert not (tmp_path / "nginx.conf").exists()


def test_render_cli_reads_the_limits_from_the_environment(tmp_path: Path) -> None:
    """`make run` renders through this CLI (scripts/stack.py), compose's image too."""
    env = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_AUTH_RATE": "50r/s",
        "GATEWAY_AUTH_BURST": "70",
        "GATEWAY_API_RATE": "2000r/s",
        "GATEWAY_API_BURST": "3000",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/nginx/render.py"), "--compose", "--out", str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
    )
    main = (tmp_path / "nginx.conf").read_text()
    assert "zone=auth:10m rate=50r/s;" in main
    assert "zone=api:20m rate=2000r/s;" in main
    assert "limit_req zone=api burst=3000 nodelay;" in (tmp_path / "routes.conf").read_text()
    assert "limit_req zone=auth burst=70 nodelay;" in (tmp_path / "locations.conf").read_text()


def test_raised_limits_from_the_environment_take_effect(stack: Stack) -> None:
    limits = render.Limits.from_env({"GATEWAY_AUTH_RATE": "600r/m", "GATEWAY_AUTH_BURST": "40"})
    url, _, _ = stack.start_nginx("nginx-raised", services=users_only(stack), limits=limits)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        statuses = [
            client.post("/api/auth/login/", json=login_payload()).status_code for _ in range(30)
        ]
    # The default burst (5) would have answered 429 from the 7th on.
    assert statuses == [422] * 30, statuses


def test_default_limits_still_answer_429_with_retry_after(stack: Stack) -> None:
    limits = render.Limits.from_env({})
    url, _, _ = stack.start_nginx("nginx-default", services=users_only(stack), limits=limits)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        statuses = [
            client.post("/api/auth/login/", json=login_payload()).status_code
            for _ in range(limits.auth_burst + 3)
        ]
        assert 429 in statuses, statuses
        limited = client.post("/api/auth/login/", json=login_payload())
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "6"  # 10 per minute: one every 6 s
    assert limited.headers["content-type"] == "application/problem+json"


def wait_for_lines(path: Path, uri: str, count: int) -> list[dict[str, Any]]:
    """The access log's lines of `uri` once there are `count` (a buffered log is written
    at least every second)."""
    deadline = time.monotonic() + LOG_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            lines = [line for line in lines if line["uri"] == uri]
            if len(lines) >= count:
                return lines
        time.sleep(0.1)
    pytest.fail(f"{path} did not get {count} lines of {uri} within {LOG_DEADLINE_SECONDS}s")


def test_buffered_access_log_reaches_its_file(stack: Stack) -> None:
    log = stack.nginx_root / "buffered-access.log"
    url, _, out = stack.start_nginx(
        "nginx-buffered",
        services=users_only(stack),
        access_log=str(log),
        access_log_buffer="256k",
    )
    assert f"access_log {log} json buffer=256k flush=1s;" in (out / "nginx.conf").read_text()
    ids = [uuid.uuid4().hex for _ in range(3)]
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        for request_id in ids:
            client.get("/.well-known/jwks.json", headers={"X-Request-ID": request_id})
    lines = wait_for_lines(log, "/.well-known/jwks.json", 3)
    assert [line["request_id"] for line in lines] == ids
    assert {line["status"] for line in lines} == {200}


def test_access_log_off_writes_no_file(stack: Stack) -> None:
    url, _, out = stack.start_nginx("nginx-quiet", services=users_only(stack), access_log="off")
    assert "access_log off;" in (out / "nginx.conf").read_text()
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        assert client.get("/.well-known/jwks.json").status_code == 200
    assert not (out / "access.log").exists()
