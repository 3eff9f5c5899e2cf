"""A real Prometheus, with the rules of observability/rules, scraping the test stack and
the PostgreSQL, Redis and nginx exporters through file_sd lists rendered by
deploy/monitoring.py (as `make run` does): after a checkout, a declined payment, a
refund and a stock rejection, every target is up, every recording rule has data, every
dashboard panel's query returns series, and a killed worker's alert goes pending."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from deploy import monitoring
from shared.dbadmin import admin_url
from shared.testing import eventually as poll
from shared.testing import free_port
from tests.conftest import ROOT, Stack, stop
from tests.test_checkout_saga import (
    DECLINED_CARD,
    GOOD_CARD,
    PASSWORD,
    customer,
    new_product,
    order_of,
    payable,
    settled,
    status_becomes,
)
from tests.test_observability_rules import debian_tool

DASHBOARDS = ROOT / "observability" / "grafana" / "dashboards"
WAIT_SECONDS = 60
# Prometheus scrapes every second: poll at half that.
eventually = partial(poll, seconds=WAIT_SECONDS, interval=0.5)
TOOLS = {
    "prometheus": "prometheus",
    "prometheus-postgres-exporter": "prometheus-postgres-exporter",
    "prometheus-redis-exporter": "prometheus-redis-exporter",
    "prometheus-nginx-exporter": "prometheus-nginx-exporter",
}


@dataclass
class Observed:
    prometheus: httpx.Client
    gateway: httpx.Client

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = self.prometheus.get("/api/v1/query", params={"query": expr})
        assert response.status_code == 200, (expr, response.text)
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result


@pytest.fixture(scope="module")
def observed(
    stack: Stack, test_database: str, stack_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Observed]:
    for tool, package in TOOLS.items():
        debian_tool(tool, package)
    status_port = free_port()
    gateway_url, _, _ = stack.start_nginx("observed", status_listen=f"127.0.0.1:{status_port}")
    ports = monitoring.Ports(
        prometheus=free_port(),
        postgres=free_port(),
        redis=free_port(),
        nginx=free_port(),
        nginx_status=status_port,
    )
    out = tmp_path_factory.mktemp("prometheus")
    postgres_url = urlparse(admin_url())._replace(path=f"/{test_database}", query="sslmode=disable")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for name, (command, env) in monitoring.exporter_commands(
            postgres_url=postgres_url.geturl(), redis_url=stack_redis_url, ports=ports
        ).items():
            with (out / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        replicas = {name: [r.port for r in found] for name, found in stack.replicas.items()}
        workers = {name: worker.metrics_port for name, worker in stack.workers.items()}
        config = monitoring.write(
            out,
            monitoring.targets(replicas, workers, ports),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        (out / "data").mkdir()
        with (out / "prometheus.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    monitoring.prometheus_command(config, out / "data", ports.prometheus),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        prometheus = httpx.Client(base_url=f"http://127.0.0.1:{ports.prometheus}", timeout=10)

        def ready() -> bool:
            try:
                return prometheus.get("/-/ready").status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, what=f"Prometheus to start:\n{(out / 'prometheus.log').read_text()}")
        try:
            with httpx.Client(base_url=gateway_url, timeout=10) as gateway:
                yield Observed(prometheus=prometheus, gateway=gateway)
        finally:
            prometheus.close()
    finally:
        stop(processes)


def drive_traffic(gateway: httpx.Client, staff: dict[str, str]) -> None:
    """A declined then a good payment, the email, a refund, a stock rejection, a failed
    login and a refresh-token reuse: every business metric gets a sample."""
    product_id = new_product(gateway, staff, price="12.00", stock=3)
    alice = customer(gateway)
    order_id = order_of(gateway, alice, product_id, 2)["id"]
    status_becomes(gateway, alice, order_id, "awaiting_payment")
    assert payable(gateway, alice, order_id, DECLINED_CARD).status_code == 202
    status_becomes(gateway, alice, order_id, "payment_failed")
    assert payable(gateway, alice, order_id, GOOD_CARD).status_code == 202
    status_becomes(gateway, alice, order_id, "paid")
    assert gateway.post(f"/api/orders/{order_id}/cancel/", headers=alice).status_code == 200
    bob = customer(gateway)
    greedy = order_of(gateway, bob, product_id, 5)
    assert settled(gateway, bob, greedy["id"])["cancel_reason"] == "out_of_stock"

    email = f"{uuid.uuid4().hex[:12]}@example.com"
    gateway.post(
        "/api/auth/register/",
        json={"email": email, "username": email.split("@")[0], "password": PASSWORD},
    )
    assert (
        gateway.post(
            "/api/auth/login/", json={"email": email, "password": "wrong horse"}
        ).status_code
        == 401
    )
    refresh = gateway.post("/api/auth/login/", json={"email": email, "password": PASSWORD}).json()[
        "refresh"
    ]
    for expected in (200, 401):  # the second use is a reuse
        assert gateway.post("/api/auth/refresh/", json={"refresh": refresh}).status_code == expected


def dashboard_queries() -> list[tuple[str, str]]:
    """(dashboard/panel, expr) of every panel, with Grafana's variables filled in."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "1m").replace("$service", ".*")
                found.append((f"{path.stem}: {panel['title']}", expr))
    return found


def test_targets_rules_and_dashboards_see_the_shop(
    observed: Observed, stack: Stack, staff: dict[str, str]
) -> None:
    drive_traffic(observed.gateway, staff)

    def targets_up() -> list[dict[str, Any]] | None:
        active = observed.prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    try:
        active = eventually(targets_up, what="every target to be up")
    except AssertionError:
        active = observed.prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        down = [(t["labels"], t["lastError"]) for t in active if t["health"] != "up"]
        raise AssertionError(f"targets down: {down}") from None
    jobs = {t["labels"]["job"] for t in active}
    assert jobs == {"shop", "shop-workers", "prometheus", "postgres", "redis", "nginx"}
    replicas = sum(len(r) for r in stack.replicas.values())
    assert sum(t["labels"]["job"] == "shop" for t in active) == replicas
    assert {t["labels"].get("worker") for t in active} >= set(stack.workers)

    groups = observed.prometheus.get("/api/v1/rules").json()["data"]["groups"]
    records = [r["name"] for g in groups for r in g["rules"] if r["type"] == "recording"]
    alerting = [r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"]
    assert len(records) >= 20, "observability/rules did not load"
    assert len(alerting) >= 15, "observability/rules did not load"
    for record in records:
        eventually(partial(observed.query, record), what=f"recording rule {record} to have data")

    queries = dashboard_queries()
    assert len(queries) >= 30
    for name, expr in queries:
        eventually(partial(observed.query, expr), what=f"{name} ({expr}) to return series")

    # The business facts of drive_traffic, as Prometheus sees them.
    def total(expr: str) -> float:
        return sum(float(s["value"][1]) for s in observed.query(expr))

    assert total('shop_payments_total{outcome="declined"}') >= 1
    assert total('shop_orders_cancelled_total{reason="out_of_stock"}') >= 1
    assert total("shop_refunds_total") >= 1
    assert total("shop_checkout_duration_seconds_count") >= 1


def test_a_killed_worker_has_its_alert_go_pending(observed: Observed, stack: Stack) -> None:
    worker = stack.workers["users-worker"]

    def up() -> bool:
        found = observed.query(f'up{{job="shop-workers", worker="{worker.name}"}}')
        return bool(found) and found[0]["value"][1] == "1"

    eventually(up, what=f"{worker.name} to be scraped")
    worker.kill()
    try:

        def alert() -> dict[str, Any] | None:
            alerts = observed.prometheus.get("/api/v1/alerts").json()["data"]["alerts"]
            return next(
                (
                    a
                    for a in alerts
                    if a["labels"]["alertname"] == "ShopWorkerDown"
                    and a["labels"].get("worker") == worker.name
                ),
                None,
            )

        found = eventually(alert, what="ShopWorkerDown to go pending")
        assert found["state"] in ("pending", "firing")
        assert found["annotations"]["runbook_url"] == "docs/operations.md#shopworkerdown"
        assert {a["labels"].get("worker") for a in [found]} == {worker.name}
    finally:
        worker.restart()
    eventually(up, what=f"{worker.name} to be back")
    eventually(
        lambda: not observed.query('ALERTS{alertname="ShopWorkerDown"}'),
        what="ShopWorkerDown to clear",
    )
