"""A slow PostgreSQL or Redis (behind a TCP delay proxy): a catalog replica bounds every
wait, so a database slower than its timeouts gives a 503 problem+json with Retry-After
(well before the gateway's 30 s), a slow Redis is stepped around (reads come from
PostgreSQL, readiness says degraded), and the replica is whole again once the dependency
is quick again."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shared.dbadmin import service_url
from tests.conftest import free_port, stack_script, start, stop, wait_until_ready
from tests.delayproxy import DelayProxy

# Timeouts of the replica under test: small, so the test is quick. Production's are in
# shared/settings.py (all below nginx's proxy_read_timeout of 30 s).
COMMAND_TIMEOUT_S = 1.0
REDIS_TIMEOUT_SECONDS = 0.5
# Each reply of the dependency comes this much later: beyond both timeouts.
SLOW_S = 3.0


@pytest.fixture(scope="module")
def proxies(redis_url: str) -> Iterator[tuple[DelayProxy, DelayProxy]]:
    redis = urlsplit(redis_url)
    with (
        DelayProxy("127.0.0.1", 5432) as pg,
        DelayProxy(redis.hostname or "127.0.0.1", redis.port or 6379) as rd,
    ):
        yield pg, rd


@pytest.fixture(scope="module")
def replica(
    proxies: tuple[DelayProxy, DelayProxy],
    test_database: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    pg, rd = proxies
    db = urlsplit(redis_url).path
    env = {
        **os.environ,
        "CATALOG_ENVIRONMENT": "test",
        "CATALOG_LOG_LEVEL": "ERROR",
        "CATALOG_DATABASE_URL": service_url("catalog", database=test_database, port=pg.port),
        "CATALOG_REDIS_URL": f"redis://127.0.0.1:{rd.port}{db}",
        "CATALOG_DB_COMMAND_TIMEOUT_SECONDS": str(COMMAND_TIMEOUT_S),
        "CATALOG_DB_POOL_TIMEOUT_SECONDS": str(COMMAND_TIMEOUT_S),
        "CATALOG_REDIS_TIMEOUT_SECONDS": str(REDIS_TIMEOUT_SECONDS),
    }
    port = free_port()
    log = Path(tmp_path_factory.mktemp("slow")) / "catalog.log"
    process = start(stack_script.uvicorn_command("catalog.main:create_app", port), log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health/ready", process, log)
        yield url
    finally:
        stop([process])


def get(url: str) -> httpx.Response:
    # The client waits far longer than the replica's timeouts: the replica must end it.
    return httpx.get(url, timeout=60)


def test_a_slow_database_gives_a_503_then_the_pool_recovers(
    proxies: tuple[DelayProxy, DelayProxy], replica: str
) -> None:
    pg, _ = proxies
    assert get(f"{replica}/api/categories/").status_code == 200
    pg.delay_s = SLOW_S
    try:
        slow = get(f"{replica}/api/categories/")
    finally:
        pg.delay_s = 0
    assert slow.status_code == 503, slow.text
    assert slow.headers["content-type"] == "application/problem+json"
    assert slow.headers["retry-after"] == "1"
    assert slow.json()["type"] == "/problems/service-unavailable"
    # The connection that timed out is not handed out again: the next requests succeed.
    for _ in range(5):
        assert get(f"{replica}/api/categories/").status_code == 200


def test_a_slow_redis_is_stepped_around(
    proxies: tuple[DelayProxy, DelayProxy], replica: str
) -> None:
    _, rd = proxies
    rd.delay_s = SLOW_S
    try:
        page = get(f"{replica}/api/products/?limit=3")
        ready = get(f"{replica}/health/ready")
    finally:
        rd.delay_s = 0
    assert page.status_code == 200, page.text
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"] == {"database": "ok", "redis": "error: TimeoutError"}
    assert get(f"{replica}/health/ready").json()["status"] == "ready"


def test_the_proxy_is_transparent_without_delay(proxies: tuple[DelayProxy, DelayProxy]) -> None:
    """The control: through the proxy, undelayed, PostgreSQL answers as usual."""
    pg, _ = proxies
    result = subprocess.run(
        ["pg_isready", "-h", "127.0.0.1", "-p", str(pg.port)], capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout
