"""The local stack behind `make run`: check PostgreSQL and Redis, render the nginx
config and a Procfile for the wanted number of replicas (stdlib only).

    python -m scripts.stack check
    python -m scripts.stack render    # REPLICAS=2, USERS_REPLICAS=3, GATEWAY_PORT=8080
                                      # OBSERVE=0: without Prometheus and the exporters

Every service of deploy/services.toml gets its replicas (uvicorn on first port + i),
its workers, and its nginx locations; nginx listens on GATEWAY_LISTEN. PORT_OFFSET=N
moves every port (gateway, replicas, worker metrics) up by N and STACK_DIR renders into
another directory than var/, so a second stack (the fault tests, `make chaos`) runs
beside `make run`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from deploy import monitoring, registry
from deploy.nginx.render import REPLICA_KEEP_ALIVE_SECONDS

ROOT = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("STACK_DIR") or ROOT / "var")
LOGS = VAR / "log"

FIRST_WORKER_METRICS_PORT = 9101
DEFAULT_CORS_ORIGINS = "http://localhost:5173,http://127.0.0.1:5173"
STOREFRONT_DIST = ROOT / "storefront" / "dist"


def replicas(service: str) -> int:
    value = os.environ.get(f"{service.upper()}_REPLICAS") or os.environ.get("REPLICAS") or "1"
    if not value.isdigit() or not 1 <= int(value) <= 16:
        raise SystemExit(f"{service.upper()}_REPLICAS / REPLICAS must be 1..16, not {value!r}")
    return int(value)


def port_offset() -> int:
    value = os.environ.get("PORT_OFFSET") or "0"
    if not value.isdigit() or int(value) > 50000:
        raise SystemExit(f"PORT_OFFSET must be 0..50000, not {value!r}")
    return int(value)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def check() -> None:
    problems = []
    pg = urlparse(os.environ.get("SHOP_DB_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/"))
    pg_host, pg_port = pg.hostname or "127.0.0.1", pg.port or 5432
    if not _reachable(pg_host, pg_port):
        problems.append(
            f"PostgreSQL is not reachable at {pg_host}:{pg_port}.\n"
            "  Start it (Debian: `pg_ctlcluster 15 main start`), or point SHOP_DB_ADMIN_URL\n"
            "  at a superuser connection, e.g. postgresql://postgres@db.example:5432/postgres"
        )
    redis = urlparse(os.environ.get("USERS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    redis_host, redis_port = redis.hostname or "127.0.0.1", redis.port or 6379
    if not _reachable(redis_host, redis_port):
        problems.append(
            f"Redis is not reachable at {redis_host}:{redis_port}.\n"
            "  Start it (`redis-server --daemonize yes`), or set USERS_REDIS_URL."
        )
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        problems.append(
            "nginx is not installed. As root, `make run` installs it with apt-get;\n"
            "  otherwise install it yourself (`sudo apt-get install nginx`)."
        )
    if problems:
        print("The local stack cannot start:\n\n- " + "\n- ".join(problems), file=sys.stderr)
        raise SystemExit(1)


def uvicorn_command(app: str, port: int, *, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--no-access-log",
        # Longer than the gateway keeps the connection idle: nginx closes it, never we.
        "--timeout-keep-alive",
        str(REPLICA_KEEP_ALIVE_SECONDS),
    ]


def observing() -> bool:
    return os.environ.get("OBSERVE", "1") != "0"


def observability(ports: dict[str, list[int]], workers: dict[str, int]) -> list[str]:
    """Procfile lines of Prometheus (127.0.0.1:9090, rules of observability/rules) and
    the PostgreSQL, Redis and nginx exporters, with file_sd lists of every replica and
    worker rendered into var/prometheus."""
    out = VAR / "prometheus"
    listen = monitoring.Ports()
    config = monitoring.write(out, monitoring.targets(ports, workers, listen))
    data = out / "data"
    data.mkdir(exist_ok=True)
    admin = urlparse(os.environ.get("SHOP_DB_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/"))
    database = os.environ.get("SHOP_DB_NAME", "shop")
    exporters = monitoring.exporter_commands(
        postgres_url=admin._replace(path=f"/{database}", query="sslmode=disable").geturl(),
        redis_url=os.environ.get("USERS_REDIS_URL", "redis://127.0.0.1:6379/0"),
        ports=listen,
    )
    lines = [
        f"prometheus: {shlex.join(monitoring.prometheus_command(config, data, listen.prometheus))}"
    ]
    for name, (command, env) in exporters.items():
        assignments = [f"{key}={value}" for key, value in env.items()]
        lines.append(f"{name}: {shlex.join(['env', *assignments, *command])}")
    return lines


def processes(
    services: list[registry.Service], ports: dict[str, list[int]], offset: int
) -> tuple[list[str], dict[str, int]]:
    """The Procfile lines of every replica and worker, and each worker's metrics port."""
    urls = {name: [f"http://127.0.0.1:{p}" for p in found] for name, found in ports.items()}
    gateway_services = registry.gateway_services_json(services, urls)
    procfile = []
    worker_ports = itertools.count(FIRST_WORKER_METRICS_PORT + offset)
    worker_metrics: dict[str, int] = {}
    for service in services:
        env = []
        if service.gateway:
            env.append(f"GATEWAY_SERVICES={shlex.quote(gateway_services)}")
        for i, port in enumerate(ports[service.name], start=1):
            replica_env = [f"{service.env_prefix}REPLICA_NAME={service.name}-{i}", *env]
            # Access lines go to a file (or `<SVC>_ACCESS_LOG=off`): relayed through the
            # process manager's pipe, they cost more CPU under load than the service.
            access = f"{LOGS}/{service.name}-{i}.access.log"
            if os.environ.get(f"{service.env_prefix}ACCESS_LOG") == "off":
                access = "off"
            replica_env.append(f"{service.env_prefix}ACCESS_LOG={shlex.quote(access)}")
            command = shlex.join(uvicorn_command(service.app, port))
            procfile.append(f"{service.name}-{i}: env {' '.join(replica_env)} {command}")
        for worker, command in service.workers.items():
            # `python` in a registry command is this workspace's interpreter.
            path = f"PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH"
            # Each worker serves its event metrics (lag, pending) on a port of its own.
            port = worker_metrics[f"{service.name}-{worker}"] = next(worker_ports)
            metrics = f"{service.env_prefix}WORKER_METRICS_PORT={port}"
            procfile.append(f"{service.name}-{worker}: env {path} {metrics} {command}")
    return procfile, worker_metrics


def render(registry_file: Path = registry.REGISTRY_FILE) -> None:
    offset = port_offset()
    gateway_port = int(os.environ.get("GATEWAY_PORT", "8080")) + offset
    listen = os.environ.get("GATEWAY_LISTEN", f"127.0.0.1:{gateway_port}")
    services = registry.load(registry_file)
    ports = {s.name: [p + offset for p in s.ports(replicas(s.name))] for s in services}
    procfile, worker_metrics = processes(services, ports, offset)
    nginx_dir = VAR / "nginx"
    LOGS.mkdir(exist_ok=True)
    cors = os.environ.get("GATEWAY_CORS_ORIGINS", DEFAULT_CORS_ORIGINS)
    # nginx's access log: a file written in 256 KiB chunks (or GATEWAY_ACCESS_LOG=off);
    # the terminal keeps its warnings and errors. Limits: GATEWAY_AUTH_RATE etc.
    access_log = f"{LOGS}/nginx-access.log"
    if os.environ.get("GATEWAY_ACCESS_LOG") == "off":
        access_log = "off"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.nginx.render",
            "--registry",
            str(registry_file),
            "--out",
            str(nginx_dir),
            "--listen",
            listen,
            "--cors-origin",
            cors,
            "--access-log",
            access_log,
            "--access-log-buffer",
            "256k",
            # The storefront SPA at `/` once it is built (`make storefront`).
            *(["--storefront-root", str(STOREFRONT_DIST)] if STOREFRONT_DIST.is_dir() else []),
            *(
                arg
                for name, found in ports.items()
                for arg in ("--upstream", f"{name}=" + ",".join(f"127.0.0.1:{p}" for p in found))
            ),
            *(
                ["--status-listen", f"127.0.0.1:{monitoring.Ports().nginx_status}"]
                if observing()
                else []
            ),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    procfile.append(f"nginx: {nginx} -p {nginx_dir} -c {nginx_dir}/nginx.conf -g 'daemon off;'")
    if observing():
        procfile += observability(ports, worker_metrics)
    (VAR / "Procfile").write_text("\n".join(procfile) + "\n")
    summary = ", ".join(f"{name} x{len(found)}" for name, found in ports.items())
    print(f"gateway on http://{listen}  ({summary}); API docs at http://{listen}/docs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["check", "render"])
    args = parser.parse_args()
    VAR.mkdir(exist_ok=True)
    {"check": check, "render": render}[args.command]()


if __name__ == "__main__":
    main()
