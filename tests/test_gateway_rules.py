"""nginx's rules with the real nginx and real replicas, each on an nginx of its own
(rendered from deploy/nginx like the shared one) so that one test's failures and limits
cannot leak into another's: failover, no retry of POSTs, rate limits, micro-cache."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.testing import bearer
from tests.conftest import Replica, Stack, free_port, render, stop, wait_until_ready

PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"
# Every request of these tests is bounded: a hang fails the test instead of stalling it.
TIMEOUT = httpx.Timeout(15.0)


def users_only(stack: Stack) -> list[Any]:
    return [s for s in stack.services if s.name == "users"]


def login_payload() -> dict[str, str]:
    """A login the service refuses with 422 before counting a failure: failed logins are
    counted per client address (all tests run from 127.0.0.1) and would lock it out."""
    return {"email": f"{uuid.uuid4().hex[:12]}@example.com"}


@pytest.fixture(scope="module")
def spare_replica(stack: Stack) -> Iterator[Replica]:
    """A users replica of this module's own, which a test may kill."""
    service = users_only(stack)[0]
    replica = stack.start_replica(service, 9, free_port())
    wait_until_ready(
        f"{replica.url}/health/ready", replica.process, stack.workdir / f"{replica.name}.log"
    )
    yield replica
    stop([replica.process])


class BrokenReplica:
    """A replica that reads a request and hangs up without answering (a crash mid-request).

    It records the method of every request it swallowed.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.methods: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    continue
                if data:
                    self.methods.append(data.split(b" ", 1)[0].decode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def broken_replica() -> Iterator[BrokenReplica]:
    replica = BrokenReplica()
    yield replica
    replica.close()


def assert_clean_failure(response: httpx.Response) -> None:
    assert response.status_code in (502, 503), response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == response.status_code


def test_a_killed_replica_keeps_gets_and_posts_working(
    stack: Stack, spare_replica: Replica
) -> None:
    live = stack.replicas["users"][0]
    url, _, _ = stack.start_nginx(
        "nginx-failover",
        services=users_only(stack),
        upstreams={"users": [f"127.0.0.1:{live.port}", f"127.0.0.1:{spare_replica.port}"]},
    )
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        served = {client.get("/.well-known/jwks.json").headers["x-served-by"] for _ in range(10)}
        assert served == {live.name, spare_replica.name}

        spare_replica.kill()
        for _ in range(20):
            response = client.get("/.well-known/jwks.json")
            assert response.status_code == 200
            assert response.headers["x-served-by"] == live.name
        # A refused connection sent nothing, so even a POST goes on to the live replica.
        for _ in range(10):
            response = client.post("/api/auth/login/", json=login_payload())
            assert response.status_code == 422  # the service's own answer
            assert response.headers["x-served-by"] == live.name


def test_only_idempotent_requests_are_retried_on_the_next_replica(
    stack: Stack, broken_replica: BrokenReplica
) -> None:
    live = stack.replicas["users"][0]
    url, _, _ = stack.start_nginx(
        "nginx-broken",
        services=users_only(stack),
        upstreams={"users": [broken_replica.address, f"127.0.0.1:{live.port}"]},
    )
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        # A GET the broken replica swallowed is retried on the live one: the client sees 200.
        for _ in range(10):
            response = client.get("/.well-known/jwks.json")
            assert response.status_code == 200
            if "GET" in broken_replica.methods:
                break
        assert broken_replica.methods.count("GET") == 1

        # A POST it swallowed may have been processed: never sent twice, a 502 instead.
        outcomes = []
        for _ in range(10):
            response = client.post("/api/auth/login/", json=login_payload())
            outcomes.append(response.status_code)
            if response.status_code != 422:
                assert_clean_failure(response)
            if "POST" in broken_replica.methods:
                break
        assert broken_replica.methods.count("POST") == 1
        assert outcomes.count(502) == 1


def test_with_every_replica_down_answers_are_quick_502_problems(stack: Stack) -> None:
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    url, _, _ = stack.start_nginx(
        "nginx-dead", services=users_only(stack), upstreams={"users": dead}
    )
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        for method in ("GET", "POST"):
            response = client.request(method, "/api/auth/login/", json=login_payload())
            assert_clean_failure(response)


def test_login_rate_limit_answers_429_problem_with_retry_after(stack: Stack) -> None:
    limits = render.Limits()  # the production defaults
    url, _, _ = stack.start_nginx("nginx-limits", services=users_only(stack), limits=limits)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        answers = [
            client.post("/api/auth/login/", json=login_payload())
            for _ in range(limits.auth_burst + 3)
        ]
        statuses = [a.status_code for a in answers]
        assert statuses[: limits.auth_burst + 1] == [422] * (limits.auth_burst + 1), statuses
        limited = answers[-1]
        assert limited.status_code == 429
        assert limited.headers["content-type"] == PROBLEM
        assert limited.headers["retry-after"] == str(render.Limits.refill_seconds(limits.auth_rate))
        assert "x-served-by" not in limited.headers  # nginx answered, not the service
        body = limited.json()
        assert body["status"] == 429
        assert body["request_id"] == limited.headers["x-request-id"]
        # Registration shares the strict zone; other paths only the generous one.
        assert client.post("/api/auth/register/", json={}).status_code == 429
        assert client.get("/.well-known/jwks.json").status_code == 200


def access_log_entries(nginx_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (nginx_dir / "access.log").read_text().splitlines()]


def new_user(client: httpx.Client) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    created = client.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    login = client.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    return email, login.json()["access"]


def test_micro_cache_serves_anonymous_gets_and_never_authenticated_ones(stack: Stack) -> None:
    # The users service is not cacheable; rendered as if it were (as catalog will be),
    # its public JWKS plays an anonymous catalog GET and /api/users/me/ a personal one.
    cacheable = [dataclasses.replace(s, cache_anonymous_gets=True) for s in users_only(stack)]
    url, _, nginx_dir = stack.start_nginx("nginx-cache", services=cacheable)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        request_id = uuid.uuid4().hex
        statuses = []
        for i in range(3):  # within the 1 s of freshness, or a MISS again after it
            first = client.get(
                "/.well-known/jwks.json", headers={"X-Request-ID": f"{request_id}a{i}"}
            )
            again = client.get(
                "/.well-known/jwks.json", headers={"X-Request-ID": f"{request_id}b{i}"}
            )
            statuses.append((first.headers["x-cache-status"], again.headers["x-cache-status"]))
            if again.headers["x-cache-status"] == "HIT":
                break
        # A URL is stored from its second request on: a one-off GET never costs a write.
        assert statuses[0] == ("MISS", "MISS"), statuses
        assert statuses[-1][1] == "HIT", statuses
        assert again.json() == first.json()
        hit = next(
            e for e in access_log_entries(nginx_dir) if e["request_id"] == f"{request_id}b{i}"
        )
        assert hit["cache"] == "HIT"
        assert hit["upstream"] == ""  # the service was not asked

        ann_email, ann = new_user(client)
        bob_email, bob = new_user(client)
        for _ in range(2):
            for email, token in ((ann_email, ann), (bob_email, bob)):
                me = client.get("/api/users/me/", headers=bearer(token))
                assert me.status_code == 200
                assert me.json()["email"] == email
                assert me.headers["x-cache-status"] == "BYPASS"
        # An anonymous GET of the same URL is answered by the service, not from the cache.
        assert client.get("/api/users/me/").status_code == 401
        # Credentials bypass a cached anonymous answer too.
        client.get("/.well-known/jwks.json")
        authed = client.get("/.well-known/jwks.json", headers=bearer(ann))
        assert authed.headers["x-cache-status"] == "BYPASS"
        posted = client.post("/api/auth/login/", json=login_payload())
        assert posted.headers.get("x-cache-status") in (None, "", "BYPASS")


def test_micro_cache_lock_lets_one_request_through(stack: Stack) -> None:
    cacheable = [dataclasses.replace(s, cache_anonymous_gets=True) for s in users_only(stack)]
    url, _, nginx_dir = stack.start_nginx("nginx-cache-lock", services=cacheable)
    barrier = threading.Barrier(8)
    results: list[str] = []
    # Asked for once already, the URL is one the cache will store (proxy_cache_min_uses).
    primed = httpx.get(
        f"{url}/.well-known/jwks.json?burst", headers={"X-Request-ID": "primer"}, timeout=TIMEOUT
    )
    assert primed.headers["x-cache-status"] == "MISS"

    def fetch() -> None:
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            barrier.wait(timeout=10)
            response = client.get("/.well-known/jwks.json?burst")
            results.append(response.headers["x-cache-status"])

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8
    upstream_hits = [
        e
        for e in access_log_entries(nginx_dir)
        if e["uri"] == "/.well-known/jwks.json?burst"
        and e["upstream"]
        and e["request_id"] != "primer"
    ]
    # Concurrent identical GETs collapse into few upstream requests (one per freshness
    # period; a slow runner may straddle two).
    assert len(upstream_hits) <= 2, results
