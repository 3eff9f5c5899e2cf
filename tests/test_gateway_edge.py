"""The edge as an outside tester probes it, through the real nginx: hosts and the
micro-cache, the client address, methods, the long poll, caching of private answers."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from shared.testing import bearer
from tests.conftest import Stack

PROBLEM = "application/problem+json"
TIMEOUT = httpx.Timeout(15.0)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(base_url: str, request_line: str, headers: dict[str, str]) -> RawResponse | None:
    """One request exactly as written (absolute targets, odd Host headers); None when the
    server closes the connection without answering."""
    parts = urlsplit(base_url)
    lines = [request_line, *(f"{k}: {v}" for k, v in headers.items()), "Connection: close"]
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return RawResponse(int(status_line.split()[1]), parsed, body)


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, body = out + body[:size], body[size + 2 :]
    return out


@pytest.fixture(scope="module")
def staff_headers(mint_token: Callable[..., str]) -> dict[str, str]:
    return bearer(mint_token(1, staff=True))


def category_family(gateway: httpx.Client, staff_headers: dict[str, str], children: int) -> int:
    """A fresh parent category with `children` children: its child list is a URL of its own."""
    parent = gateway.post(
        "/api/categories/", json={"name": f"edge-{uuid.uuid4().hex[:10]}"}, headers=staff_headers
    )
    assert parent.status_code == 201, parent.text
    parent_id: int = parent.json()["id"]
    for i in range(children):
        child = gateway.post(
            "/api/categories/",
            json={"name": f"edge-{uuid.uuid4().hex[:10]}-{i}", "parent_id": parent_id},
            headers=staff_headers,
        )
        assert child.status_code == 201, child.text
    return parent_id


# (request line, Host header) pairs a poisoner would send for the path.
POISONS: list[Callable[[str, str], tuple[str, str]]] = [
    lambda path, own: (f"GET http://evil.example{path} HTTP/1.1", own),
    lambda path, own: (f"GET {path} HTTP/1.1", "evil.example"),
    lambda path, own: (f"GET {path} HTTP/1.1", f"{own.split(':')[0]}:9999"),
    lambda path, own: (f"GET {path} HTTP/1.1", f"{own.split(':')[0]}."),
    lambda path, own: (f"GET {path} HTTP/1.1", own.upper() if own[0].isalpha() else own + "."),
]


@pytest.mark.parametrize("poison", range(len(POISONS)))
def test_a_sent_host_never_reaches_the_links_other_users_get(
    stack: Stack, gateway: httpx.Client, staff_headers: dict[str, str], poison: int
) -> None:
    parent = category_family(gateway, staff_headers, children=3)
    path = f"/api/categories/?parent={parent}&limit=1"
    own = urlsplit(stack.url).netloc
    request_line, host = POISONS[poison](path, own)
    for _ in range(3):  # the micro-cache stores a URL from its second request on
        answer = raw_request(stack.url, request_line, {"Host": host})
        if answer is not None and answer.status == 200:
            assert "evil" not in answer.body.decode()
            assert ":9999" not in answer.body.decode()

    page = gateway.get(path).json()
    assert page["next"] is not None
    # Links are relative: nothing of the client's Host is in them, whoever asked first.
    assert page["next"].startswith("/api/categories/?"), page["next"]
    assert gateway.get(page["next"]).status_code == 200


@pytest.mark.parametrize(
    ("request_line", "host"),
    [
        ("GET /api/categories/ HTTP/1.1", "evil.example"),
        ("GET http://evil.example/api/categories/ HTTP/1.1", "127.0.0.1"),
    ],
)
def test_an_unknown_host_is_answered_421_by_the_default_server(
    stack: Stack, request_line: str, host: str
) -> None:
    answer = raw_request(stack.url, request_line, {"Host": host})
    assert answer is not None
    assert answer.status == 421
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 421


@dataclass
class EchoUpstream:
    """An upstream that records the headers nginx sends it and answers 200 with them."""

    seen: list[dict[str, str]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def __post_init__(self) -> None:
        echo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                echo.seen.append({k.lower(): v for k, v in self.headers.items()})
                echo.arrived.release()
                if "wait=" in self.path:
                    echo.hold.wait(20)  # a long poll, answered when the test lets go
                body = json.dumps(echo.seen[-1]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo() -> Iterator[EchoUpstream]:
    upstream = EchoUpstream()
    yield upstream
    upstream.close()


def users_only(stack: Stack) -> list[Any]:
    return [s for s in stack.services if s.name == "users"]


def test_the_edge_sets_client_address_and_host_itself(stack: Stack, echo: EchoUpstream) -> None:
    url, _, _ = stack.start_nginx(
        "nginx-echo", services=users_only(stack), upstreams={"users": [echo.address]}
    )
    port = urlsplit(url).port
    forged = {
        "X-Forwarded-For": "6.6.6.6",
        "X-Real-IP": "6.6.6.6",
        "Host": "127.0.0.1.",
        "X-Request-Start": "t=0",
    }
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        seen = client.get("/.well-known/jwks.json", headers=forged).json()
        other_port = client.get("/api/users/", headers={"Host": "127.0.0.1:9999"}).json()
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    # When nginx passed it on, by nginx's clock, whatever the client claimed.
    assert abs(float(seen["x-request-start"].removeprefix("t=")) - time.time()) < 30
    # One normalised host upstream, whatever form the client wrote it in.
    assert seen["host"] == other_port["host"] == "127.0.0.1"
    assert str(port) not in seen["host"]


def test_a_trusted_proxy_in_front_of_the_edge_passes_the_client_address(
    stack: Stack, echo: EchoUpstream
) -> None:
    url, _, _ = stack.start_nginx(
        "nginx-realip",
        services=users_only(stack),
        upstreams={"users": [echo.address]},
        trusted_proxies=["127.0.0.1/32"],
    )
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        # A proxy we trust appended its client; what that client claimed before is not ours.
        seen = client.get(
            "/.well-known/jwks.json", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7"}
        ).json()
    assert seen["x-forwarded-for"] == "203.0.113.7"
    assert seen["x-real-ip"] == "203.0.113.7"


def test_long_polls_are_limited_per_address(stack: Stack, echo: EchoUpstream) -> None:
    url, _, _ = stack.start_nginx(
        "nginx-longpoll",
        services=users_only(stack),
        upstreams={"users": [echo.address]},
        long_poll_connections=2,
    )
    results: list[int] = []

    def poll() -> None:
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            results.append(client.get("/api/users/1/?wait=20").status_code)

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for thread in pollers:
        thread.start()
    for _ in pollers:  # both are held by the upstream now
        assert echo.arrived.acquire(timeout=10)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        third = client.get("/api/users/1/?wait=20")
        ordinary = client.get("/api/users/1/")  # a request without `wait` is not counted
    assert third.status_code == 429
    assert third.headers["content-type"] == PROBLEM
    assert ordinary.status_code == 200
    echo.hold.set()
    for thread in pollers:
        thread.join(timeout=15)
    assert results == [200, 200]


def test_the_long_poll_maximum_sits_below_the_gateway_timeout(
    stack: Stack, gateway: httpx.Client, mint_token: Callable[..., str]
) -> None:
    proxy_conf = (stack.nginx_root / "nginx" / "proxy.conf").read_text()
    match = re.search(r"proxy_read_timeout (\d+)s;", proxy_conf)
    assert match is not None
    read_timeout = int(match.group(1))
    document = gateway.get("/openapi.json").json()
    parameters = document["paths"]["/api/orders/{order_id}/"]["get"]["parameters"]
    wait = next(p for p in parameters if p["name"] == "wait")
    assert wait["schema"]["maximum"] == 25  # what the docs promise
    assert wait["schema"]["maximum"] + 5 <= read_timeout
    too_long = gateway.get(
        "/api/orders/1/?changed_from=pending&wait=26", headers=bearer(mint_token(2))
    )
    assert too_long.status_code == 422
    assert too_long.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("method", ["TRACE", "FOO", "PROPFIND", "CONNECT"])
def test_unknown_methods_are_405_problems_with_allow(stack: Stack, method: str) -> None:
    own = urlsplit(stack.url).netloc
    answer = raw_request(stack.url, f"{method} /api/products/ HTTP/1.1", {"Host": own})
    assert answer is not None
    assert answer.status == 405, answer.body
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 405
    allowed = {m.strip() for m in answer.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert method not in allowed


def test_every_method_a_documented_path_lacks_is_a_405_naming_the_ones_it_has(
    gateway: httpx.Client, staff_headers: dict[str, str]
) -> None:
    """Driven by the merged document: a path without parameters (`/api/categories/tree/`)
    is not mistaken for a parameterised one beside it (`/api/categories/{category_id}/`,
    which would refuse "tree" with a 422), and `Allow` names what the document lists."""
    document = gateway.get("/openapi.json").json()
    methods = {"get", "post", "put", "patch", "delete"}
    wrong: list[str] = []
    for template, item in document["paths"].items():
        documented = methods & set(item)
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method in sorted(methods - documented):
            # As staff, so that no 401/403 answers for the route the method lacks.
            answer = gateway.request(method.upper(), path, headers=staff_headers, json={})
            allowed = {m.strip().lower() for m in answer.headers.get("allow", "").split(",")}
            if (
                answer.status_code != 405
                or answer.headers.get("content-type") != PROBLEM
                or allowed - {"head", "options"} != documented
            ):
                wrong.append(f"{method.upper()} {path}: {answer.status_code} {allowed}")
    assert not wrong, wrong


def test_the_longest_query_a_service_judges_reaches_it(stack: Stack) -> None:
    """A cursor at its documented 1024-character limit plus one, in 4-byte characters
    percent-encoded (12 KiB), is the service's 422 problem, not nginx's 414 page; only
    beyond 32 KiB nginx refuses the line (before parsing it, so with its own page)."""
    own = urlsplit(stack.url).netloc
    cursor = "%F1%B6%A7%AC" * 1025
    answer = raw_request(stack.url, f"GET /api/products/?cursor={cursor} HTTP/1.1", {"Host": own})
    assert answer is not None
    assert answer.status == 422, answer.body[:300]
    assert answer.headers["content-type"] == PROBLEM
    # Many times: nginx closing over the unread rest of the line would reset a few of them
    # before their answer (about 1 in 100 here).
    far = [
        raw_request(stack.url, f"GET /api/products/?q={'a' * 40_000} HTTP/1.1", {"Host": own})
        for _ in range(300)
    ]
    assert {answer.status if answer else None for answer in far} == {414}


def test_authenticated_and_token_answers_are_not_stored(
    gateway: httpx.Client, mint_token: Callable[..., str]
) -> None:
    me = gateway.get("/api/orders/", headers=bearer(mint_token(2)))
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    password = "correct horse battery"
    registered = gateway.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": password},
    )
    assert registered.status_code == 201
    login = gateway.post("/api/auth/login/", json={"email": email, "password": password})
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"
    # Anonymous catalog reads stay cacheable.
    anonymous = gateway.get("/api/categories/")
    assert "no-store" not in anonymous.headers.get("cache-control", "")


def test_public_health_is_a_summary_without_replica_addresses(gateway: httpx.Client) -> None:
    health = gateway.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ready"
    assert set(body["services"]) >= {"users", "catalog", "orders", "payments"}
    text = health.text
    assert "127.0.0.1" not in text
    assert "http" not in text
    assert "url" not in text


@pytest.mark.parametrize(
    "extra", [{"Host": "127.0.0.2"}, {"Content-Length": "abc"}], ids=["two-hosts", "length"]
)
def test_requests_nginx_cannot_parse_are_400_problems(stack: Stack, extra: dict[str, str]) -> None:
    own = urlsplit(stack.url).netloc
    lines = [f"Host: {own}", *(f"{k}: {v}" for k, v in extra.items())]
    parts = urlsplit(stack.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(("GET /api/products/ HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 400


def _one_response(sock: socket.socket) -> bytes:
    """Read one HTTP/1.1 response (headers and a Content-Length body); b"" if the server
    closed the connection instead."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_replica_keeps_an_idle_connection_longer_than_uvicorns_default(stack: Stack) -> None:
    """nginx reuses an idle upstream connection for up to its `keepalive_timeout`; a
    replica that closed it sooner (uvicorn's default: after 5 s idle) raced nginx's next
    request on it, which met a reset: for a POST, which nginx never sends twice, a 502.
    Idle past those 5 s, the replica still answers on the same connection."""
    replica = stack.replicas["catalog"][0]
    request = b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(("127.0.0.1", replica.port), timeout=15) as sock:
        sock.sendall(request)
        assert _one_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(6)
        sock.sendall(request)
        assert _one_response(sock).startswith(b"HTTP/1.1 200")
