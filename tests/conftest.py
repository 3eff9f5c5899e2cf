"""The real stack for cross-service tests: uvicorn replicas of every service of
deploy/services.toml, their workers, and nginx in front, rendered from deploy/nginx
exactly as `make run` does it, on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from deploy import registry as deploy_registry
from deploy.nginx import render as nginx_render
from scripts import stack as scripts_stack
from shared.dbadmin import service_url
from shared.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
# A loaded machine (several stacks starting at once) may need more: SHOP_TEST_STARTUP_SECONDS.
STARTUP_SECONDS = float(os.environ.get("SHOP_TEST_STARTUP_SECONDS", "120"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


# The stdlib-only deployment scripts `make run` runs (the workspace root's packages).
registry = deploy_registry
render = nginx_render
stack_script = scripts_stack

# Replicas per service in the test stack (default 1): two where balancing is proven.
TEST_REPLICAS = {"users": 2}
# Generous limits for the shared stack (every test logs in from 127.0.0.1); the rules
# stack in test_gateway_rules.py runs the production defaults.
TEST_LIMITS = {"auth_rate": "100r/s", "auth_burst": 100, "api_rate": "500r/s", "api_burst": 500}
SPA_ORIGIN = "http://spa.test:5173"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Sweeps go last: as staff they may change or delete what another test set up. A test
    that starts a stack (its first test pays every replica's startup, each bounded by
    SHOP_TEST_STARTUP_SECONDS) gets that on top of the per-test timeout (pytest-timeout,
    `timeout` in pyproject.toml, or --timeout), unless it sets its own."""
    items.sort(key=lambda item: item.get_closest_marker("sweep") is not None)
    base = float(
        config.getoption("timeout", None)
        or os.environ.get("PYTEST_TIMEOUT")
        or config.getini("timeout")
        or 0
    )
    if base <= 0:
        return  # --timeout 0: no timeout at all
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(base + 3 * max(STARTUP_SECONDS, 180)))


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready after {STARTUP_SECONDS}s:\n{log.read_text()}")


def start(
    args: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(list(args), env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class Replica:
    service: str
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Worker:
    """A worker process of the stack, which a test may kill and start again."""

    name: str
    metrics_port: int
    command: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> subprocess.Popen[bytes]:
        """Start it again, with the same command and environment (and consumer name)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {self.command}"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self.process


@dataclass
class Stack:
    url: str
    workdir: Path
    services: list[Any]
    env: dict[str, str]
    # nginx's workers run as `nobody` when the tests run as root: their files live in a
    # directory they can traverse (pytest's tmp dirs are private to the user).
    nginx_root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shop-nginx-")))
    replicas: dict[str, list[Replica]] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # "<service>-<worker>" -> the worker, whose metrics port Prometheus scrapes.
    workers: dict[str, Worker] = field(default_factory=dict)

    @property
    def access_log(self) -> Path:
        return self.nginx_root / "nginx" / "access.log"

    def upstreams(self) -> dict[str, list[str]]:
        return {
            name: [f"127.0.0.1:{r.port}" for r in replicas]
            for name, replicas in self.replicas.items()
        }

    def start_replica(self, service: Any, index: int, port: int) -> Replica:
        """Start one more uvicorn replica of `service` (it joins no nginx by itself)."""
        name = f"{service.name}-{index}"
        env = {**self.env, f"{service.env_prefix}REPLICA_NAME": name}
        command = stack_script.uvicorn_command(service.app, port)
        process = start(command, self.workdir / f"{name}.log", env=env)
        self.processes.append(process)
        return Replica(service.name, name, port, process)

    def start_nginx(
        self, name: str, *, services: list[Any] | None = None, **options: Any
    ) -> tuple[str, subprocess.Popen[bytes], Path]:
        """Render deploy/nginx into workdir/<name> and start it; returns its URL."""
        port = free_port()
        self.nginx_root.chmod(0o755)
        out = self.nginx_root / name
        limits = options.pop("limits", render.Limits(**TEST_LIMITS))
        upstreams = options.pop("upstreams", None) or self.upstreams()
        services = services or self.services
        render.render(
            out,
            services=services,
            upstreams=upstreams,
            options=render.Options(
                listen=f"127.0.0.1:{port}",
                access_log=options.pop("access_log", str(out / "access.log")),
                error_log=str(out / "error.log"),
                worker_processes="1",
                limits=limits,
                cors_origins=[SPA_ORIGIN],
                **options,
            ),
        )
        log = out / "nginx.log"
        process = start(
            [NGINX, "-p", str(out), "-c", str(out / "nginx.conf"), "-g", "daemon off;"], log
        )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:  # nginx answers 404 problem+json on / once it listens
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited early:\n{log.read_text()}")
            try:
                httpx.get(f"{url}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return url, process, out


def service_env(
    services: list[Any], *, database: str, redis_url: str, jwks_url: str, jwt_key: Path
) -> dict[str, str]:
    """Each service's settings for the test database and Redis, plus test-only tuning."""
    env = {**os.environ}
    for service in services:
        prefix = service.env_prefix
        env[f"{prefix}ENVIRONMENT"] = "test"
        env[f"{prefix}REDIS_URL"] = redis_url
        env[f"{prefix}LOG_LEVEL"] = "WARNING"
        if service.has_migrations:
            env[f"{prefix}DATABASE_URL"] = service_url(service.name, database=database)
        env[f"{prefix}JWKS_URL"] = jwks_url
    env["USERS_JWT_PRIVATE_KEY_FILE"] = str(jwt_key)
    env["USERS_BCRYPT_ROUNDS"] = "4"
    # Race tests (test_checkout_races.py): hold cards wait until a test releases them, a
    # failed event is re-tried within a second, and overdue orders are swept every second.
    env["PAYMENTS_PROVIDER_TEST_HOLDS"] = "true"
    env["PAYMENTS_EVENTS__CLAIM_IDLE_SECONDS"] = "1"
    env["PAYMENTS_EVENTS__CLAIM_INTERVAL_SECONDS"] = "0.5"
    env["ORDERS_EXPIRY_SWEEP_SECONDS"] = "1"
    # Every request comes from 127.0.0.1: the per-address lockout would couple the tests.
    env["USERS_LOGIN_MAX_FAILURES_PER_ADDRESS"] = "1000000"
    return env


@pytest.fixture(scope="session")
def stack_redis_url(redis_url: str) -> str:
    """A Redis database of the stack's own: service tests flush theirs after each test,
    and streams left by an earlier run must not be replayed into this run's database."""
    url = redis_url.rsplit("/", 1)[0] + "/14"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(scope="session")
def stack(
    test_database: str,
    stack_redis_url: str,
    jwt_private_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: run `make test`, which installs it")
    services = registry.load()
    workdir = tmp_path_factory.mktemp("stack")
    ports = {s.name: [free_port() for _ in range(TEST_REPLICAS.get(s.name, 1))] for s in services}
    env = service_env(
        services,
        database=test_database,
        redis_url=stack_redis_url,
        jwks_url=f"http://127.0.0.1:{ports['users'][0]}/.well-known/jwks.json",
        jwt_key=jwt_private_key_file,
    )
    env["GATEWAY_SERVICES"] = registry.gateway_services_json(
        services, {name: [f"http://127.0.0.1:{p}" for p in found] for name, found in ports.items()}
    )
    env["GATEWAY_OPENAPI_REFRESH_SECONDS"] = "0"
    # The orders worker mails confirmations to the stack's own mail sink.
    env["ORDERS_SMTP_PORT"] = str(free_port())
    env["ORDERS_MAIL_SINK_DIR"] = str(workdir / "mail")
    stack = Stack(url="", workdir=workdir, services=services, env=env)
    try:
        for service in services:
            for i, port in enumerate(ports[service.name], start=1):
                replica = stack.start_replica(service, i, port)
                stack.replicas.setdefault(service.name, []).append(replica)
            for worker, command in service.workers.items():
                log = workdir / f"{service.name}-{worker}.log"
                # `python` in a registry command is this workspace's interpreter.
                worker_env = {**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
                metrics_port = free_port()
                worker_env[f"{service.env_prefix}WORKER_METRICS_PORT"] = str(metrics_port)
                process = start(["/bin/sh", "-c", f"exec {command}"], log, env=worker_env)
                stack.processes.append(process)
                name = f"{service.name}-{worker}"
                stack.workers[name] = Worker(name, metrics_port, command, worker_env, log, process)
        for replicas in stack.replicas.values():
            for replica in replicas:
                log = workdir / f"{replica.name}.log"
                wait_until_ready(f"{replica.url}/health/ready", replica.process, log)
        stack.url, _, _ = stack.start_nginx("nginx")
        yield stack
    finally:
        stop([*stack.processes, *(w.process for w in stack.workers.values())])
        shutil.rmtree(stack.nginx_root, ignore_errors=True)


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        yield client
