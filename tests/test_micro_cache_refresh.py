"""The gateway's micro-cache refreshes a stale page in the request that found it stale:
no other request, and no later request on that keep-alive connection, waits for it.

With `proxy_cache_background_update on`, nginx answers the stale copy at once but runs the
refresh as a subrequest of that client request, and the next request on the connection
waits until the refresh ends (docs/catalog.md); this upstream holds a refresh until the
test lets it go, so that behaviour cannot hide.
"""

from __future__ import annotations

import dataclasses
import http.server
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import NGINX, free_port, registry, render, start, stop

TIMEOUT = httpx.Timeout(15.0)
SLOW = "/.well-known/jwks.json?slow"
FAST = "/.well-known/jwks.json?fast"
SHARED = "/.well-known/jwks.json?shared"  # says s-maxage, as the catalog's pages do


class HeldUpstream(http.server.ThreadingHTTPServer):
    """Answers every GET with a cacheable page; once `hold` is set, the next request for
    the slow page waits until `release` is set (it tells `refreshing` when it arrives)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hold = threading.Event()
        self.refreshing = threading.Event()
        self.release = threading.Event()
        self.version = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HeldUpstream

    def do_GET(self) -> None:
        if self.path == SLOW and self.server.hold.is_set():
            self.server.refreshing.set()
            self.server.release.wait(timeout=30)
        self.server.version += 1
        body = f'{{"path": "{self.path}", "version": {self.server.version}}}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        shared = ", s-maxage=60" if self.path == SHARED else ""
        self.send_header("Cache-Control", f"public, max-age=1{shared}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[HeldUpstream]:
    server = HeldUpstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway_url(upstream: HeldUpstream) -> Iterator[str]:
    """The gateway rendered from deploy/nginx, micro-caching `users` (here: the upstream)."""
    users = [
        dataclasses.replace(s, cache_anonymous_gets=True)
        for s in registry.load()
        if s.name == "users"
    ]
    # Not under pytest's tmp_path: nginx's workers run as nobody under root.
    root = Path(tempfile.mkdtemp(prefix="shop-nginx-"))
    root.chmod(0o755)
    out = root / "nginx"
    port = free_port()
    render.render(
        out,
        services=users,
        upstreams={"users": [f"127.0.0.1:{upstream.server_address[1]}"]},
        options=render.Options(
            listen=f"127.0.0.1:{port}",
            access_log=str(out / "access.log"),
            error_log=str(out / "error.log"),
            worker_processes="1",
        ),
    )
    process = start(
        [NGINX, "-p", str(out), "-c", str(out / "nginx.conf"), "-g", "daemon off;"],
        root / "nginx.log",
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    stop([process])
    shutil.rmtree(root, ignore_errors=True)


def test_a_stale_page_is_refreshed_by_the_request_that_found_it(
    gateway_url: str, upstream: HeldUpstream
) -> None:
    url = gateway_url
    with (
        httpx.Client(base_url=url, timeout=TIMEOUT) as first,
        httpx.Client(base_url=url, timeout=TIMEOUT) as second,
    ):
        for _ in range(2):  # stored from the second request on (proxy_cache_min_uses 2)
            first.get(SLOW)
        # nginx keeps validity in whole seconds (`valid_sec`): a page stored for 1 s is
        # stale once the clock has passed the next second, up to 2 s after it was stored.
        time.sleep(2.2)  # the slow page is stale now; the fast one is stored fresh below
        for _ in range(2):
            first.get(FAST)
        assert first.get(FAST).headers["x-cache-status"] == "HIT"

        upstream.hold.set()
        refresher: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: refresher.update(slow=first.get(SLOW)))
        thread.start()
        assert upstream.refreshing.wait(timeout=10)
        # While the refresh is held: the stale copy and fresh pages, at once, elsewhere.
        assert second.get(SLOW).headers["x-cache-status"] == "UPDATING"
        assert second.get(FAST).headers["x-cache-status"] in ("HIT", "EXPIRED")
        upstream.release.set()
        thread.join(timeout=20)

        # The request that found the page stale waited for the new version itself (in
        # the background it would have had the stale copy, its connection held after it).
        assert refresher["slow"].headers["x-cache-status"] == "EXPIRED"
        assert refresher["slow"].json()["version"] > 2
        assert first.get(FAST).headers["x-cache-status"] in ("HIT", "EXPIRED")


def test_the_gateway_keeps_a_page_for_its_s_maxage_not_its_max_age(gateway_url: str) -> None:
    """The catalog gives browsers 1 s and the micro-cache longer (`s-maxage`)."""
    with httpx.Client(base_url=gateway_url, timeout=TIMEOUT) as client:
        for _ in range(2):  # stored from the second request on
            stored = client.get(SHARED).json()["version"]
            client.get(FAST)
        time.sleep(2.2)  # past max-age=1 in nginx's whole seconds (above)
        assert client.get(FAST).headers["x-cache-status"] == "EXPIRED"
        kept = client.get(SHARED)
        assert kept.headers["x-cache-status"] == "HIT"
        assert kept.json()["version"] == stored
