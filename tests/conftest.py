"""The real stack for cross-service tests: uvicorn replicas of each service and nginx in
front, rendered from deploy/nginx exactly as `make run` does it, on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shared.dbadmin import service_url

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


@dataclass
class Stack:
    url: str
    workdir: Path
    replicas: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"


@pytest.fixture(scope="session")
def stack(
    test_database: str,
    redis_url: str,
    jwt_private_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed: run `make test`, which installs it")
    workdir = tmp_path_factory.mktemp("stack")
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", workdir=workdir)
    env = {
        **os.environ,
        "USERS_ENVIRONMENT": "test",
        "USERS_DATABASE_URL": service_url("users", database=test_database),
        "USERS_REDIS_URL": redis_url,
        "USERS_JWT_PRIVATE_KEY_FILE": str(jwt_private_key_file),
        "USERS_BCRYPT_ROUNDS": "4",
    }
    try:
        upstreams = []
        for service, app in [("users", "users.main:create_app")]:
            ports = [free_port(), free_port()]
            upstreams.append(f"{service}=" + ",".join(f"127.0.0.1:{p}" for p in ports))
            for i, port in enumerate(ports, start=1):
                log = workdir / f"{service}-{i}.log"
                process = start(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        app,
                        "--factory",
                        "--port",
                        str(port),
                        "--proxy-headers",
                        "--forwarded-allow-ips",
                        "127.0.0.1",
                        "--no-access-log",
                    ],
                    log,
                    env={**env, f"{service.upper()}_REPLICA_NAME": f"{service}-{i}"},
                )
                stack.processes.append(process)
                stack.replicas.setdefault(service, []).append(process)
                wait_until_ready(f"http://127.0.0.1:{port}/health/ready", process, log)

        nginx_dir = workdir / "nginx"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "deploy/nginx/render.py"),
                "--out",
                str(nginx_dir),
                "--listen",
                stack.url.removeprefix("http://"),
                "--worker-processes",
                "1",
                "--access-log",
                str(stack.access_log),
                "--error-log",
                str(workdir / "error.log"),
                *(arg for spec in upstreams for arg in ("--upstream", spec)),
            ],
            check=True,
            capture_output=True,
        )
        log = workdir / "nginx.log"
        process = start(
            [nginx, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"), "-g", "daemon off;"],
            log,
        )
        stack.processes.append(process)
        wait_until_ready(f"{stack.url}/.well-known/jwks.json", process, log)
        yield stack
    finally:
        for process in stack.processes:
            process.terminate()
        for process in stack.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        yield client
