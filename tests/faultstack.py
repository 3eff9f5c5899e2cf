"""A shop of its own for fault injection: a throwaway PostgreSQL cluster and Redis server
(so they can be restarted without touching anyone else's), and the very stack `make run`
starts (scripts/stack.py render + scripts/supervise.py) moved to free ports.

Used by tests/test_faults.py and by `make chaos` (tests/chaos.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy import registry
from shared.dbadmin import service_url
from shared.testing import eventually, find_tool, free_port, port_is_free
from tests.delayproxy import DelayProxy

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
STARTUP_S = 180


def missing_tools() -> str | None:
    """Why this machine cannot run the fault stack, or None."""
    for tool in ("initdb", "pg_ctl"):
        if find_tool(tool) is None:
            return f"{tool} is missing (Debian package postgresql)"
    if shutil.which("redis-server") is None:
        return "redis-server is missing (Debian package redis-server)"
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return "nginx is missing: run `make test`, which installs it"
    return None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, on a free port; restartable."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "pg"
        self.log = workdir / "pg.log"
        # initdb refuses to run as root: run the cluster as `postgres` then.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        self.log.touch()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.dir.parent, self.dir, self.log):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(str(find_tool("initdb")), "-D", str(self.dir), "-U", "postgres", "-A", "trust")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            "-c fsync=off -c max_connections=300"
        )
        self._run(
            str(find_tool("pg_ctl")), "-D", str(self.dir), "-l", str(self.log), "-o", options, "-w",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (a restart); `immediate` is a crash."""
        self._run(str(find_tool("pg_ctl")), "-D", str(self.dir), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast", down_s: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down_s)
        self.start()

    def refuse_connections(self, seconds: float) -> None:
        """For `seconds`, every new connection to the shop database is refused as a full
        server refuses it (SQLSTATE 53300, too many connections); open ones go on."""
        psql = [str(find_tool("psql")), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        psql += ["-U", "postgres", "-d", "postgres", "-c"]
        subprocess.run([*psql, "ALTER DATABASE shop CONNECTION LIMIT 0"], check=True)
        try:
            time.sleep(seconds)
        finally:
            subprocess.run([*psql, "ALTER DATABASE shop CONNECTION LIMIT -1"], check=True)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")


class ThrowawayRedis:
    """A redis-server with AOF, as compose runs it, in a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
        )
        eventually(self.ping, what="redis-server to answer", seconds=30)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SHUTDOWN: the AOF is flushed, as on a clean restart."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def restart(self, down_s: float = 0.0, *, crash: bool = False) -> None:
        """A clean SHUTDOWN, or with `crash` a SIGKILL (what the AOF holds survives)."""
        if crash and self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
        else:
            self.stop()
        time.sleep(down_s)
        self.start()

    def destroy(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _offset_is_free(offset: int, ports: list[int]) -> bool:
    return all(port_is_free(p + offset) for p in ports)


def pick_port_offset(replicas: dict[str, int]) -> int:
    """An offset that moves every fixed port of `make run` onto free ones."""
    services = registry.load()
    ports = [8080, *range(9101, 9101 + sum(len(s.workers) for s in services))]
    for s in services:
        ports += s.ports(replicas.get(s.name, 1))
    for _ in range(200):
        offset = random.randrange(10_000, 40_000, 10)
        if _offset_is_free(offset, ports):
            return offset
    raise RuntimeError("no free port offset found")


@dataclass
class FaultStack:
    """`make run`'s stack on a throwaway PostgreSQL and Redis, at a port offset."""

    workdir: Path
    replicas: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    # Services reach PostgreSQL and Redis through delay proxies (tests/delayproxy.py),
    # so a scenario can make them slow.
    proxied: bool = False
    pg_proxy: DelayProxy | None = None
    redis_proxy: DelayProxy | None = None
    pg: ThrowawayPostgres = field(init=False)
    redis: ThrowawayRedis = field(init=False)
    offset: int = 0
    env: dict[str, str] = field(default_factory=dict)
    supervisor: subprocess.Popen[bytes] | None = None

    @property
    def stack_dir(self) -> Path:
        return self.workdir / "var"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{8080 + self.offset}"

    def service_port(self, service: str, replica: int = 1) -> int:
        return registry.by_name(registry.load())[service].port + replica - 1 + self.offset

    def start(self) -> None:
        self.pg = ThrowawayPostgres(self.workdir)
        self.redis = ThrowawayRedis(self.workdir)
        self.pg.init()
        self.redis.start()
        if self.proxied:
            self.pg_proxy = DelayProxy("127.0.0.1", self.pg.port).__enter__()
            self.redis_proxy = DelayProxy("127.0.0.1", self.redis.port).__enter__()
        self.offset = pick_port_offset(self.replicas)
        self.env = self._environment()
        self._migrate()
        self._render()
        log = (self.workdir / "supervise.log").open("wb")
        self.supervisor = subprocess.Popen(
            [PYTHON, str(ROOT / "scripts/supervise.py"), str(self.stack_dir / "Procfile"),
             "--status", str(self.status_file), "--stable", "5"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        for name, count in self.replicas_by_service().items():
            for i in range(1, count + 1):
                self.wait_ready(name, i)
        eventually(self._gateway_up, what="nginx", seconds=STARTUP_S)

    def replicas_by_service(self) -> dict[str, int]:
        return {s.name: self.replicas.get(s.name, 1) for s in registry.load() if s.api}

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, "SHOP_DB_ADMIN_URL": self.pg.admin_url, "SHOP_DB_NAME": "shop"}
        jwks = f"http://127.0.0.1:{self.service_port('users')}/.well-known/jwks.json"
        pg_port = self.pg_proxy.port if self.pg_proxy else self.pg.port
        redis_url = f"redis://127.0.0.1:{self.redis_proxy.port}/0" if self.redis_proxy else None
        for service in registry.load():
            prefix = service.env_prefix
            env[f"{prefix}ENVIRONMENT"] = "test"
            env[f"{prefix}REDIS_URL"] = redis_url or self.redis.url(0)
            env[f"{prefix}LOG_LEVEL"] = "WARNING"
            env[f"{prefix}JWKS_URL"] = jwks
            if service.database:
                url = service_url(service.name, database="shop", port=pg_port)
                env[f"{prefix}DATABASE_URL"] = url
        key = self.workdir / "jwt-private.pem"
        env["USERS_JWT_PRIVATE_KEY_FILE"] = str(key)
        env["USERS_BCRYPT_ROUNDS"] = "4"
        env["USERS_LOGIN_MAX_FAILURES_PER_ADDRESS"] = "1000000"
        env["ORDERS_SMTP_PORT"] = str(free_port())
        env["ORDERS_MAIL_SINK_DIR"] = str(self.workdir / "mail")
        env["PAYMENTS_PROVIDER_LATENCY_SECONDS"] = "0.05"
        env["GATEWAY_OPENAPI_REFRESH_SECONDS"] = "0"
        env["STACK_DIR"] = str(self.stack_dir)
        env["PORT_OFFSET"] = str(self.offset)
        # No Prometheus or exporters: their ports are fixed (tests/test_observability_stack.py
        # runs its own Prometheus against the test stack).
        env["OBSERVE"] = "0"
        for name, count in self.replicas.items():
            env[f"{name.upper()}_REPLICAS"] = str(count)
        env.update(self.extra_env)
        return env

    def _migrate(self) -> None:
        def run(args: list[str], cwd: Path = ROOT) -> None:
            subprocess.run(args, env=self.env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)

        run([PYTHON, "-m", "users.cli", "generate-keys"])
        services = registry.load()
        run([PYTHON, "-m", "shared.dbadmin", "bootstrap", *registry.dbadmin_arguments(services)])
        for service in services:
            if service.database:
                alembic = str(Path(PYTHON).parent / "alembic")
                run([alembic, "upgrade", "head"], cwd=ROOT / service.path)

    def _render(self) -> None:
        subprocess.run(
            [PYTHON, "-m", "scripts.stack", "render"],
            env=self.env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        # nginx's workers run as `nobody` under root: let them into the rendered tree.
        for path in (self.workdir, self.stack_dir, self.stack_dir / "nginx"):
            path.chmod(0o755)

    @property
    def database_dsn(self) -> str:
        """The superuser's DSN of the shop database (for the books)."""
        return f"postgresql://postgres@127.0.0.1:{self.pg.port}/shop"

    @property
    def status_file(self) -> Path:
        return self.workdir / "supervise.json"

    def status(self) -> dict[str, Any]:
        try:
            processes: dict[str, Any] = json.loads(self.status_file.read_text())["processes"]
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return processes

    def pid(self, name: str) -> int | None:
        entry = self.status().get(name) or {}
        return int(entry["pid"]) if entry.get("state") == "running" and entry["pid"] else None

    def wait_ready(self, service: str, replica: int = 1, seconds: float = STARTUP_S) -> None:
        url = f"http://127.0.0.1:{self.service_port(service, replica)}/health/ready"

        def ready() -> bool:
            if self.supervisor is not None and self.supervisor.poll() is not None:
                raise RuntimeError(f"the supervisor exited:\n{self.supervisor_log()[-4000:]}")
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, what=f"{service}-{replica} ready", seconds=seconds)

    def _gateway_up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code < 500
        except httpx.TransportError:
            return False

    def supervisor_log(self) -> str:
        return (self.workdir / "supervise.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.supervisor is not None and self.supervisor.poll() is None:
            self.supervisor.send_signal(signal.SIGINT)
            try:
                self.supervisor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.supervisor.kill()
                self.supervisor.wait()
        for proxy in (self.pg_proxy, self.redis_proxy):
            if proxy is not None:
                proxy.__exit__(None, None, None)
        for part in ("redis", "pg"):
            if hasattr(self, part):
                getattr(self, part).destroy()


@contextlib.contextmanager
def fault_stack(**kwargs: Any) -> Iterator[FaultStack]:
    workdir = Path(tempfile.mkdtemp(prefix="shop-faults-"))
    stack = FaultStack(workdir, **kwargs)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
