"""The storefront SPA (storefront/): its generated API types match the gateway's merged
document, it builds and type-checks, its unit tests (Vitest) pass, and its end-to-end
scenarios pass in headless Chromium against the real stack, served by nginx at `/`.

The e2e run (storefront/e2e/run.mjs, playwright-core driving Debian's chromium) writes
its screenshots to a temporary folder, or to docs/screenshots/ with
STOREFRONT_SCREENSHOTS=1 (how the README's pictures are made).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Stack

ROOT = Path(__file__).resolve().parents[1]
STOREFRONT = ROOT / "storefront"
NPM = shutil.which("npm")
NPX = shutil.which("npx")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STAFF_EMAIL = "e2e-staff@example.com"
STAFF_PASSWORD = "e2e-staff-secret"
needs_node = pytest.mark.skipif(NPM is None, reason="npm (Node.js 18+) is not installed")


def _run(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args,
        cwd=STOREFRONT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
    return output


@pytest.fixture(scope="session")
def storefront_dist() -> Path:
    """storefront/dist, built now: npm ci (if the lock changed), tsc, vite build."""
    if NPM is None:
        pytest.skip("npm (Node.js 18+) is not installed")
    subprocess.run([str(ROOT / "scripts/storefront.sh"), "build"], check=True, timeout=600)
    return STOREFRONT / "dist"


def test_committed_openapi_document_is_the_gateways_current_one() -> None:
    spec = importlib.util.spec_from_file_location("export_openapi", ROOT / "scripts/openapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = json.loads(json.dumps(module.merged(), sort_keys=True))
    committed = json.loads((STOREFRONT / "openapi.json").read_text())
    assert committed == current, (
        "storefront/openapi.json is not the gateway's current document: run "
        "`make storefront-api`, then fix what `tsc` reports"
    )


@needs_node
def test_generated_client_types_are_current(storefront_dist: Path, tmp_path: Path) -> None:
    assert NPX is not None
    out = tmp_path / "schema.d.ts"
    _run([NPX, "openapi-typescript", "openapi.json", "-o", str(out)], timeout=120)
    assert out.read_text() == (STOREFRONT / "src/api/schema.d.ts").read_text(), (
        "src/api/schema.d.ts is not generated from openapi.json: run `make storefront-api`"
    )


@needs_node
def test_bundle_is_small(storefront_dist: Path) -> None:
    import gzip

    scripts = list((storefront_dist / "assets").glob("*.js"))
    assert scripts
    gzipped = sum(len(gzip.compress(p.read_bytes(), 9)) for p in scripts)
    assert gzipped < 200 * 1024, f"{gzipped} bytes of JavaScript, gzipped"


@needs_node
def test_unit_tests_pass(storefront_dist: Path) -> None:
    assert NPX is not None
    output = _run([NPX, "vitest", "run", "--reporter=dot"], timeout=300)
    assert "passed" in output


@pytest.fixture(scope="session")
def storefront_url(stack: Stack, storefront_dist: Path) -> str:
    """A second nginx of the test stack, rendered like `make run`'s, serving the SPA."""
    url, _, _ = stack.start_nginx("storefront", storefront_root=str(storefront_dist))
    return url


def test_nginx_serves_the_spa_with_its_caching_and_policy(
    storefront_url: str, storefront_dist: Path
) -> None:
    with httpx.Client(base_url=storefront_url, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.headers["cache-control"] == "no-cache"
        policy = index.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert index.headers["x-frame-options"] == "DENY"
        # A client-side route gets index.html itself.
        route = client.get("/products/12")
        assert route.status_code == 200
        assert route.text == index.text
        asset = next(p for p in (storefront_dist / "assets").iterdir() if p.suffix == ".js")
        hashed = client.get(f"/assets/{asset.name}")
        assert hashed.status_code == 200
        assert "immutable" in hashed.headers["cache-control"]
        assert "max-age=31536000" in hashed.headers["cache-control"]
        assert hashed.headers["content-security-policy"] == policy
        assert client.get("/assets/missing-0000.js").status_code == 404
        # The API keeps its own answers: unknown API paths stay problem+json 404s.
        missing = client.get("/api/no-such-thing/")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert client.get("/api/products/").headers["content-type"] == "application/json"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_storefront_in_chromium(stack: Stack, storefront_url: str, tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "users.cli",
            "create-staff",
            "--email",
            STAFF_EMAIL,
            "--password",
            STAFF_PASSWORD,
        ],
        env=stack.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    shots = ROOT / "docs/screenshots" if os.environ.get("STOREFRONT_SCREENSHOTS") else tmp_path
    env = {
        **os.environ,
        "SHOP_URL": storefront_url,
        "STAFF_EMAIL": STAFF_EMAIL,
        "STAFF_PASSWORD": STAFF_PASSWORD,
        "SCREENSHOT_DIR": str(shots),
        "CHROMIUM": CHROMIUM,
    }
    result = subprocess.run(
        ["node", "e2e/run.mjs"],
        cwd=STOREFRONT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "not ok" not in report, report
    for name in ("home", "product", "cart", "checkout", "admin-products"):
        assert (shots / f"{name}.png").stat().st_size > 0
