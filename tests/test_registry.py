"""Adding a service is one entry in deploy/services.toml: a copy of the registry with a
made-up `loyalty` service, and every artefact derived from it (database roles and
schemas, compose, Prometheus, nginx, the Procfile of `make run`) picks the entry up."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from deploy import compose, registry
from scripts import stack
from shared.dbadmin import parse_schemas

ROOT = Path(__file__).resolve().parents[1]

LOYALTY = """
[[service]]
name = "loyalty"
port = 8600
app = "loyalty.main:create_app"
database = true
schemas = ["loyalty_ledger"]
redis = true
prefixes = ["/api/loyalty"]

[service.workers]
worker = "python -m loyalty.worker"
"""


@pytest.fixture
def services(tmp_path: Path) -> list[registry.Service]:
    return registry.load(with_loyalty(tmp_path))


def with_loyalty(tmp_path: Path) -> Path:
    path = tmp_path / "services.toml"
    path.write_text(registry.REGISTRY_FILE.read_text() + LOYALTY)
    return path


def test_the_entry_gets_a_role_and_its_schemas(services: list[registry.Service]) -> None:
    loyalty = registry.by_name(services)["loyalty"]
    assert loyalty.api
    assert not loyalty.gateway
    assert loyalty.redis
    assert loyalty.has_migrations
    assert loyalty.path == "services/loyalty"
    assert registry.databases(services)["loyalty"] == ("loyalty_ledger",)
    arguments = registry.dbadmin_arguments(services)
    assert "loyalty:loyalty_ledger" in arguments
    # What `make migrate` and compose pass to shared.dbadmin is what the registry says.
    assert parse_schemas(arguments) == registry.databases(services)


def test_compose_runs_it_migrates_it_and_routes_to_it(services: list[registry.Service]) -> None:
    apps = compose.compose(services)["services"]
    entry = apps["loyalty"]
    assert entry["build"]["args"]["APP"] == "loyalty.main:create_app"
    assert entry["environment"]["LOYALTY_REDIS_URL"] == "redis://redis:6379/0"
    assert "shop_loyalty:" in entry["environment"]["LOYALTY_DATABASE_URL"]
    assert entry["depends_on"]["loyalty-migrate"] == {"condition": "service_completed_successfully"}
    assert {"postgres", "redis"} <= set(entry["depends_on"])
    assert apps["loyalty-worker"]["command"] == ["sh", "-c", "exec python -m loyalty.worker"]
    bootstrap = apps["db-bootstrap"]
    assert "loyalty:loyalty_ledger" in bootstrap["command"]
    assert "SHOP_DB_PASSWORD_LOYALTY" in bootstrap["environment"]
    assert "loyalty" in apps["nginx"]["depends_on"]
    gateway = apps["gateway"]
    assert "loyalty" in gateway["depends_on"]
    documents = json.loads(gateway["environment"]["GATEWAY_SERVICES"])
    assert {"name": "loyalty", "urls": ["http://loyalty:8000"]}.items() <= next(
        d for d in documents if d["name"] == "loyalty"
    ).items()


def test_prometheus_scrapes_it_and_its_worker(services: list[registry.Service]) -> None:
    jobs = {job["job_name"]: job for job in compose.prometheus(services)["scrape_configs"]}
    assert "loyalty" in jobs["shop"]["dns_sd_configs"][0]["names"]
    assert "loyalty-worker" in jobs["shop-workers"]["dns_sd_configs"][0]["names"]


def test_make_run_starts_it_routes_to_it_and_scrapes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "var"
    out.mkdir()
    monkeypatch.setattr(stack, "VAR", out)
    monkeypatch.setattr(stack, "LOGS", out / "log")
    monkeypatch.setenv("OBSERVE", "1")
    monkeypatch.setenv("LOYALTY_REPLICAS", "2")
    stack.render(with_loyalty(tmp_path))
    procfile = (out / "Procfile").read_text().splitlines()
    names = {line.split(":", 1)[0] for line in procfile}
    assert {"loyalty-1", "loyalty-2", "loyalty-worker"} <= names
    [replica] = [line for line in procfile if line.startswith("loyalty-2:")]
    assert "--port 8601" in replica
    assert "loyalty.main:create_app" in replica
    [gateway] = [line for line in procfile if line.startswith("gateway-1:")]
    assert "http://127.0.0.1:8601" in gateway  # GATEWAY_SERVICES names both replicas
    upstreams = (out / "nginx" / "upstreams.conf").read_text()
    assert "upstream loyalty {" in upstreams
    assert "server 127.0.0.1:8601" in upstreams
    assert "location /api/loyalty" in (out / "nginx" / "locations.conf").read_text()
    targets = out / "prometheus" / "targets"
    shop = json.loads((targets / "shop.json").read_text())
    assert {"targets": ["127.0.0.1:8600", "127.0.0.1:8601"], "labels": {"service": "loyalty"}} in (
        shop
    )
    workers = json.loads((targets / "shop-workers.json").read_text())
    assert "loyalty-worker" in {group["labels"]["worker"] for group in workers}


def test_the_registry_is_the_only_list_of_apps() -> None:
    """The workspace finds every app by its folder, and lists none by name."""
    pyproject: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = pyproject["tool"]["uv"]["workspace"]["members"]
    services = registry.load()
    for service in services:
        assert any(Path(service.path).match(member) for member in members), service.path
        # database = true is an Alembic tree of its own, and the other way round.
        assert service.database == (ROOT / service.path / "alembic.ini").exists(), service.name
    named = {s.package for s in services}
    assert not named & set(pyproject["tool"]["uv"].get("sources", {}))
    assert not named & set(pyproject["dependency-groups"]["dev"])


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ('role = "worker"', "role 'worker'"),
        ('schemas = ["x"]', "schemas need database = true"),
        ('role = "gateway"', "more than one app"),
    ],
)
def test_an_entry_the_derivations_cannot_follow_is_refused(
    tmp_path: Path, entry: str, error: str
) -> None:
    path = tmp_path / "services.toml"
    extra = f'\n[[service]]\nname = "extra"\nport = 8700\napp = "extra.main:app"\n{entry}\n'
    path.write_text(registry.REGISTRY_FILE.read_text() + extra)
    with pytest.raises(ValueError, match=error):
        registry.load(path)
