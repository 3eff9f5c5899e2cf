"""/docs and /redoc render in a real browser with no request leaving the machine.

Headless Chromium (Debian's `chromium`) loads each page through the real nginx; every
request the page makes is read back from Chromium's net log and must go to the gateway,
and the rendered DOM must show the merged document's operations. Host names other than
127.0.0.1 do not resolve inside the browser, so a CDN reference could not load anyway.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian package `chromium`)"
)


def browse(url: str, workdir: Path) -> tuple[str, list[dict[str, Any]]]:
    """The rendered DOM of `url` and every URL request Chromium started for it."""
    assert CHROMIUM is not None
    profile = workdir / "profile"
    netlog = workdir / "netlog.json"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--log-net-log={netlog}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        timeout=90,
        check=True,
    )
    log = json.loads(netlog.read_text())
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    requests = [
        event["params"]
        for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in event.get("params", {})
    ]
    return result.stdout.decode(), requests


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"}),
        ("/redoc", {"/docs/assets/redoc.standalone.js"}),
    ],
)
def test_docs_render_with_every_request_local(
    stack: Stack, tmp_path: Path, page: str, assets: set[str]
) -> None:
    dom, requests = browse(f"{stack.url}{page}", tmp_path)
    by_page = [r for r in requests if r.get("initiator") == stack.url]
    assert by_page, requests
    for request in by_page:
        assert request["url"].startswith(f"{stack.url}/"), request["url"]
    loaded = {r["url"].removeprefix(stack.url) for r in by_page}
    assert assets | {"/openapi.json"} <= loaded, loaded
    # The page rendered the merged document: the users service's operations are there.
    assert "/api/auth/login/" in dom
    assert "/api/users/me/" in dom
