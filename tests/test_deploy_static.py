"""Static checks of what cannot run here (no Docker engine): deploy/compose.yaml, the
Dockerfiles, the Prometheus and Grafana configs and the CI workflow, against their
schemas, their linters, and the code they name."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import Counter, Gauge
from pydantic_settings import BaseSettings

from tests.conftest import ROOT, Stack, registry, render

VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILES = [ROOT / "deploy" / "Dockerfile", ROOT / "deploy" / "nginx" / "Dockerfile"]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def tool(name: str) -> str:
    path = shutil.which(name) or str(VENV_BIN / name)
    if not Path(path).exists():
        pytest.fail(f"{name} is missing: `uv sync` installs it (root dev group)")
    return path


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def compose_module() -> Any:
    from deploy import compose

    return compose


def test_generated_files_are_up_to_date() -> None:
    for path, text in compose_module().generated().items():
        assert path.read_text() == text, f"{path} is stale: run `make compose`"


@pytest.mark.parametrize(
    ("path", "schema"),
    [(COMPOSE, "vendor.compose-spec"), (WORKFLOW, "vendor.github-workflows")],
)
def test_files_validate_against_their_vendored_schemas(path: Path, schema: str) -> None:
    # check-jsonschema ships these schemas (with their licences) inside its wheel.
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def app_services() -> dict[str, Any]:
    return {s.name: s for s in registry.load()}


def test_every_app_is_a_scalable_healthy_compose_service() -> None:
    services = load_compose()["services"]
    for name, service in app_services().items():
        entry = services[name]
        assert "container_name" not in entry
        assert "ports" not in entry, f"{name} must be reached through nginx only"
        assert entry["expose"] == [str(render.COMPOSE_PORT)]
        assert entry["healthcheck"]["test"][0] == "CMD"
        assert str(render.COMPOSE_PORT) in " ".join(entry["healthcheck"]["test"])
        assert entry["build"]["args"] == {
            "PACKAGE": service.package,
            "APP_PATH": service.path,
            "APP": service.app,
        }
        for worker in service.workers:
            assert "CASSANDRA_CONTACT_POINTS" in services[f"{name}-{worker}"]["environment"]
        if service.has_migrations:
            migrate = services[f"{name}-migrate"]
            assert migrate["command"] == ["alembic", "upgrade", "head"]
            assert entry["depends_on"][f"{name}-migrate"] == {
                "condition": "service_completed_successfully"
            }
    for name, entry in services.items():
        assert "container_name" not in entry, name
        one_shot = entry.get("restart") == "no"
        assert one_shot or not entry["healthcheck"].get("disable"), f"{name} needs a healthcheck"
        for dependency, condition in entry.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = (
                "service_completed_successfully"
                if services[dependency].get("restart") == "no"
                else "service_healthy"
            )
            assert condition == {"condition": expected}, (name, dependency)


def settings_fields(package: str, prefix: str) -> set[str]:
    module = importlib.import_module(f"{package}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value.model_config.get("env_prefix") == prefix
        ):
            return set(value.model_fields)
    pytest.fail(f"{package}.settings has no settings class with env_prefix {prefix}")


def test_every_variable_and_module_compose_names_exists_in_the_code() -> None:
    services = load_compose()["services"]
    apps = app_services()
    dbadmin = (ROOT / "shared/src/shared/dbadmin.py").read_text()
    for name, entry in services.items():
        owner = next((a for a in apps.values() if name.startswith(a.name)), None)
        for variable in entry.get("environment", {}):
            if owner is not None and variable.startswith(owner.env_prefix):
                field = variable.removeprefix(owner.env_prefix).split("__")[0].lower()
                fields = settings_fields(owner.package, owner.env_prefix)
                assert field in fields, f"{name}: {variable} is no setting of {owner.name}"
            elif variable.startswith("SHOP_REDIS_PASSWORD_"):
                # Read by the ACL script of the Redis servers' command (deploy/redis_acl.py).
                assert f"$${variable}" in json.dumps(entry["command"]), (name, variable)
            elif variable.startswith("SHOP_"):
                databases = "|".join(name.upper() for name in registry.databases(registry.load()))
                stem = re.sub(rf"_({databases})$", "_", variable)
                assert stem in dbadmin, f"{name}: shared.dbadmin reads no {variable}"
        command = entry.get("command", [])
        text = " ".join(command) if isinstance(command, list) else command
        for module in re.findall(r"python -m ([\w.]+)", text) + (
            [command[2]] if command[:2] == ["python", "-m"] else []
        ):
            if "profiles" not in entry:
                assert importlib.util.find_spec(module) is not None, f"{name}: no {module}"


def test_nginx_for_compose_resolves_replicas_through_docker_dns(tmp_path: Path) -> None:
    services = registry.load()
    out = tmp_path / "compose"
    # A bare Python, as in the gateway's image: the renderer needs the stdlib only.
    subprocess.run(
        ["python3", "-m", "deploy.nginx.render", "--compose", "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    upstreams = (out / "upstreams.conf").read_text()
    for service in services:
        assert f"server {service.name}:{render.COMPOSE_PORT} max_fails=3" in upstreams
        assert f"zone {service.name} " in upstreams
    assert upstreams.count(" resolve;") == len(services)
    assert "resolver 127.0.0.11 valid=5s" in (out / "nginx.conf").read_text()
    # `server ... resolve` needs nginx >= 1.27.3: the image must be at least that.
    dockerfile = (ROOT / "deploy/nginx/Dockerfile").read_text()
    version = re.search(r"^FROM nginx:(\d+)\.(\d+)", dockerfile, re.MULTILINE)
    assert version is not None
    assert (int(version.group(1)), int(version.group(2))) >= (1, 28)
    nginx = load_compose()["services"]["nginx"]
    assert nginx["build"]["dockerfile"] == "deploy/nginx/Dockerfile"
    assert nginx["ports"] == ["${GATEWAY_PORT:-8080}:8080"]
    assert "--listen 8080" in dockerfile
    # Same locations as `make run` and the tests: only the upstream servers differ.
    local = tmp_path / "local"
    render.render(
        local,
        services=services,
        upstreams={s.name: ["127.0.0.1:1"] for s in services},
        options=render.Options(),
    )
    strip = str(out), str(local)
    assert (out / "locations.conf").read_text().replace(strip[0], "X") == (
        local / "locations.conf"
    ).read_text().replace(strip[1], "X")


def test_the_gateway_limits_reach_the_nginx_image_in_compose() -> None:
    """Each limit `make run` takes from the environment is a build argument of compose's
    nginx and an ARG of its Dockerfile, which render.py reads while the image builds."""
    from deploy.compose import GATEWAY_LIMITS

    dockerfile = (ROOT / "deploy/nginx/Dockerfile").read_text()
    args = load_compose()["services"]["nginx"]["build"]["args"]
    assert "GATEWAY_LONG_POLL_CONNECTIONS" in GATEWAY_LIMITS
    for name in GATEWAY_LIMITS:
        assert args[name] == f"${{{name}:-}}"
        assert re.search(rf"^ARG {name}=$", dockerfile, re.MULTILINE), name


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_app_image_is_multi_stage_locked_non_root_and_healthchecked() -> None:
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 3
    assert 'uv sync --frozen --no-dev --package "${PACKAGE}"' in text
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user
    assert user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", text, re.MULTILINE)
    assert f"PORT={render.COMPOSE_PORT}" in text
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/tests", "var"} <= set(ignore)


def test_prometheus_scrapes_every_app_replica() -> None:
    config = yaml.safe_load((ROOT / "observability/prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "shop"]
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == [s.name for s in registry.load()]
    assert sd["port"] == render.COMPOSE_PORT
    assert sd["type"] == "A"
    from tests.test_observability_rules import promtool  # fails, or skips, when missing

    result = subprocess.run(
        [
            promtool(),
            "check",
            "config",
            "--syntax-only",
            str(ROOT / "observability/prometheus.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in sorted((ROOT / "observability/grafana/dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"]
        for panel in dashboard["panels"]:
            exprs += [target["expr"] for target in panel["targets"]]
    return exprs


def test_grafana_is_provisioned_with_dashboards_of_real_metrics(stack: Stack) -> None:
    provisioning = ROOT / "observability/grafana/provisioning"
    [datasource] = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards/shop.yml").read_text())["providers"]
    grafana = load_compose()["services"]["grafana"]
    assert (
        f"../observability/grafana/dashboards:{provider['options']['path']}:ro"
        in grafana["volumes"]
    )
    exprs = dashboard_exprs()
    assert exprs
    replica = stack.replicas["users"][0]
    httpx.get(f"{replica.url}/.well-known/jwks.json")
    exposed = httpx.get(f"{replica.url}/metrics").text
    names = set(re.findall(r"^([a-zA-Z_:][\w:]*?)(?:_bucket|_sum|_count)?[{ ]", exposed, re.M))
    names |= set(re.findall(r"^([a-zA-Z_:][\w:]*)[{ ]", exposed, re.M))
    for expr in exprs:
        for metric in re.findall(r"\b(http_[a-z_]+)\{", expr):
            assert metric in names, f"{metric} is not exported by the services"
    # The event metrics appear once a relay or consumer runs: check them against their
    # definitions instead.
    from shared.events import metrics

    defined = {
        sample
        for value in vars(metrics).values()
        if isinstance(value, Counter | Gauge)
        for family in value.describe()
        for sample in (f"{family.name}_total" if family.type == "counter" else family.name,)
    }
    used = {m for expr in exprs for m in re.findall(r"\b(shop_events_[a-z_]+)\b", expr)}
    assert used, "no dashboard charts the event backbone"
    assert used <= defined, used - defined


def test_ci_runs_make_test_with_postgres_and_redis() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    [job] = workflow["jobs"].values()
    images = {name: s["image"] for name, s in job["services"].items()}
    assert images["postgres"].startswith("postgres:")
    assert images["redis"].startswith("redis:")
    assert any(step.get("run", "").strip().endswith("make test") for step in job["steps"])


def interpolations(value: Any) -> list[str]:
    """Every `${...}` in a compose value, with its operator (`:-`, `:?`)."""
    text = json.dumps(value)
    return re.findall(r"\$\{([^}]*)\}", text)


def test_compose_ships_no_default_secret_and_defaults_to_production() -> None:
    services = load_compose()["services"]
    text = COMPOSE.read_text()
    body = text[text.index("\nname:") :]  # the header comment may name the marker
    assert "changethis" not in body
    for name, entry in services.items():
        for variable, value in entry.get("environment", {}).items():
            for expression in interpolations(value):
                secretish = re.search(r"PASSWORD|SECRET", expression)
                if secretish:
                    assert ":?" in expression, f"{name}: {variable} must be required"
            if variable.endswith("_ENVIRONMENT"):
                assert value == "${SHOP_ENVIRONMENT:-production}", (name, variable)
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def redis_arguments(entry: dict[str, Any]) -> dict[str, str]:
    """`--name value` pairs after the ACL script's `redis-server`."""
    command = entry["command"]
    arguments = command[command.index("redis-server") + 1 :]
    return dict(zip(arguments[::2], arguments[1::2], strict=True))


def test_streams_and_caches_have_redis_servers_of_their_own() -> None:
    """Caches may be evicted (bounded, LRU), streams and revocations never: random query
    parameters filling the cache can no longer cost an event."""
    services = load_compose()["services"]
    streams, cache = redis_arguments(services["redis"]), redis_arguments(services["redis-cache"])
    assert streams["--maxmemory-policy"] == "noeviction"
    assert streams["--appendonly"] == "yes"
    assert cache["--maxmemory-policy"] == "allkeys-lru"
    assert cache["--maxmemory"] == "${REDIS_CACHE_MAXMEMORY:-256mb}"
    assert cache["--appendonly"] == "no"
    for name, service in app_services().items():
        if name == "gateway":
            continue
        workers = [f"{name}-{worker}" for worker in service.workers]
        for entry in (services[name], *(services[w] for w in workers)):
            env, prefix = entry["environment"], service.env_prefix
            assert env[f"{prefix}REDIS_URL"] == "redis://redis:6379/0", name
            assert env[f"{prefix}CACHE_REDIS_URL"] == "redis://redis-cache:6379/0", name
            assert {"redis", "redis-cache"} <= set(entry["depends_on"]), name


def test_every_service_talks_to_redis_as_its_own_acl_user() -> None:
    """Both Redis servers load the ACL users of deploy/redis_acl.py (tests/test_redis_acl.py
    tries them on a real server); each service logs in as itself with a required password."""
    from tests.test_redis_acl import redis_acl

    services = load_compose()["services"]
    users = {*redis_acl.fixed_users(), *(s.name for s in redis_acl.redis_users(registry.load()))}
    for server in ("redis", "redis-cache"):
        entry = services[server]
        assert entry["command"][:3] == [
            "sh",
            "-c",
            redis_acl.shell_script(registry.load()).replace("$", "$$"),
        ], server
        assert set(entry["environment"]) == {redis_acl.password_variable(u) for u in users}
    for name, service in app_services().items():
        if name == "gateway":
            assert not any("REDIS" in v for v in services[name]["environment"])
            continue
        env, prefix = services[name]["environment"], service.env_prefix
        variable = redis_acl.password_variable(name)
        assert env[f"{prefix}REDIS_USERNAME"] == name
        assert env[f"{prefix}REDIS_PASSWORD"] == f"${{{variable}:?set {variable} in deploy/.env}}"
    exporter = services["redis-exporter"]["environment"]
    assert exporter["REDIS_USER"] == redis_acl.EXPORTER


def test_admin_uis_listen_on_localhost_unless_told_otherwise() -> None:
    services = load_compose()["services"]
    admin_uis = ("grafana", "prometheus", "alertmanager")
    for name in admin_uis:
        (port,) = services[name]["ports"]
        assert port.startswith("${ADMIN_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    for name, entry in services.items():
        if name not in ("nginx", *admin_uis):
            assert "ports" not in entry, f"{name} publishes a port"


def test_services_trust_forwarded_headers_only_from_the_gateway() -> None:
    compose = load_compose()
    services = compose["services"]
    gateway_ip = services["nginx"]["networks"]["default"]["ipv4_address"]
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert gateway_ip == "${SHOP_GATEWAY_ADDRESS:-172.30.0.10}"
    assert subnet == "${SHOP_SUBNET:-172.30.0.0/24}"
    for name in app_services():
        assert services[name]["environment"]["FORWARDED_ALLOW_IPS"] == gateway_ip, name
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    # uvicorn reads FORWARDED_ALLOW_IPS itself; the image trusts only loopback by default.
    assert "--forwarded-allow-ips" not in dockerfile
    assert "FORWARDED_ALLOW_IPS=127.0.0.1" in dockerfile
    command = registry_stack_command()
    assert command[command.index("--forwarded-allow-ips") + 1] == "127.0.0.1"


def test_replicas_keep_an_idle_connection_longer_than_the_gateway() -> None:
    """nginx, not a replica, closes an idle upstream connection: a replica that closes
    first races the next request nginx sends on it (a 502 for a POST)."""
    upstream = render.upstream_block("orders", ["127.0.0.1:1"], resolve=False)
    found = re.search(r"keepalive_timeout (\d+)s;", upstream)
    assert found is not None
    gateway = int(found.group(1))
    command = registry_stack_command()
    local = int(command[command.index("--timeout-keep-alive") + 1])
    image = re.search(r"UVICORN_TIMEOUT_KEEP_ALIVE=(\d+)", (ROOT / "deploy/Dockerfile").read_text())
    assert image is not None
    assert local > gateway
    assert int(image.group(1)) > gateway


def registry_stack_command() -> list[str]:
    from tests.conftest import stack_script

    command: list[str] = stack_script.uvicorn_command("users.main:create_app", 8100)
    return command


def interpolate(value: str, secrets: str) -> str:
    """What compose makes of a value with nothing set but the required variables."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = re.fullmatch(r"(\w+)(:[-?]|)(.*)", match.group(1)).groups()
        if operator == ":?":
            return secrets or f"s3cret-{name.lower()}"
        return rest if operator == ":-" else ""

    return re.sub(r"\$\{([^}]*)\}", one, value)


@pytest.mark.parametrize("secrets", ["", "changethis"], ids=["real", "default"])
def test_compose_apps_run_in_production_and_refuse_default_secrets(
    monkeypatch: pytest.MonkeyPatch, secrets: str
) -> None:
    services = load_compose()["services"]
    checked = 0
    for name, service in app_services().items():
        if not service.has_migrations:
            continue  # the gateway holds no secret
        for variable, value in services[name]["environment"].items():
            monkeypatch.setenv(variable, interpolate(str(value), secrets))
        module = importlib.import_module(f"{service.package}.settings")
        settings_class = next(
            v
            for v in vars(module).values()
            if isinstance(v, type)
            and issubclass(v, BaseSettings)
            and v.model_config.get("env_prefix") == service.env_prefix
        )
        if secrets:
            with pytest.raises(ValueError, match="default secret"):
                settings_class()
        else:
            assert settings_class().environment == "production"
        checked += 1
    assert checked == 4


def test_every_compose_service_restarts_unless_it_is_a_one_shot_job() -> None:
    """A crashed replica, worker or datastore comes back by itself; only the jobs that run
    to completion (bootstrap, migrations, setup, keyspace creation) run once."""
    services = load_compose()["services"]
    awaited = {
        dependency
        for entry in services.values()
        for dependency, condition in entry.get("depends_on", {}).items()
        if condition == {"condition": "service_completed_successfully"}
    }
    jobs = {n for n in services if n.endswith(("-setup", "-migrate", "-bootstrap", "-init"))}
    assert awaited <= jobs, f"awaited services not named as jobs: {awaited - jobs}"
    for name, entry in services.items():
        policy = entry.get("restart")
        if name in jobs:
            assert policy == "no", f"{name} is a one-shot job: restart 'no', not {policy!r}"
        else:
            assert policy == "unless-stopped", f"{name} must restart: {policy!r}"
