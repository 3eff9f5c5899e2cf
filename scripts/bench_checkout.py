"""`make bench-checkout`: the whole checkout saga through the gateway, under load.

Starts its own shop (every app and worker of deploy/services.toml, nginx in front, on
ports of their own, database `shop_bench_checkout`, Redis database 12), so a running
`make run` is left alone. Customers are registered first, each from a loopback address
of its own (127.1.x.y), so the gateway's per-address limits apply per buyer as they would
in production, and their carts are filled before the clock starts. Then:

- rate:  orders arrive at a fixed rate (BENCH_RATE per second for BENCH_SECONDS); each
         buyer places the order, long-polls to `awaiting_payment`, pays by card and
         long-polls to `paid`;
- flash: BENCH_FLASH_BUYERS buyers released together on BENCH_FLASH_UNITS units.

It prints placed/s, paid/s, placement and checkout-to-paid p50/p95/p99, the outcomes,
5xx answers, the oversell check (stock before - after against units sold), and CPU
seconds per paid order summed over every process of the shop (from /proc: uvicorn,
workers, nginx, and the PostgreSQL backends of its database). The client measures itself
too: its own CPU, and how late it started each order against the schedule (an
overloaded client starts late, which would show up there, not as shop latency).

    make bench-checkout [BENCH_RATE=50] [BENCH_SECONDS=20] [BENCH_MODES=rate,flash]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "shop_bench_checkout"
# The shop's access lines (every replica's and nginx's) into its log folder, which is then
# kept (BENCH_KEEP_LOGS): off by default, as they cost CPU the figures should not include.
ACCESS_LOGS = bool(os.environ.get("BENCH_ACCESS_LOGS"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FIRST_PORT = 28100
GATEWAY_PORT = 28080
PASSWORD = "bench-pass-1234"  # noqa: S105 (throwaway accounts of a throwaway database)
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
FINAL = {"paid", "cancelled", "payment_failed"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
IDLE_SECONDS = 5
# The machine's speed of the moment: the CPU seconds of a fixed pure-Python loop, which on
# the shared dev machines moves by up to 2x from one hour to the next, and every CPU figure
# moves with it. The loop is the one the docs quote ("the loop at 1.04 s": 20M additions at
# module level), run at half length; 0.52 s, a fast phase's, is the reference.
SPEED_LOOP = compile("total = 0\nfor i in range(10_000_000):\n    total += i\n", "speed", "exec")
REFERENCE_SPEED_S = 0.52
SIGNING_KEY = ROOT / "var/keys/jwt-private.pem"
RETRIES = 5  # per request, on an answer lost or deferred (see `send_until_answered`)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


registry: Any = _load("registry", ROOT / "deploy/registry.py")
stack_script: Any = _load("stack_script", ROOT / "scripts/stack.py")


# ---------------------------------------------------------------- the stack


@dataclass
class Shop:
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    # The web replicas' ports by process name, to count the requests each one served.
    web_ports: dict[str, int] = field(default_factory=dict)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def prepare_database() -> None:
    from alembic import command
    from alembic.config import Config

    from shared.dbadmin import bootstrap, drop_database, service_url

    asyncio.run(drop_database(DATABASE))
    asyncio.run(bootstrap(DATABASE))
    for service in registry.load():
        if service.has_migrations:
            config = Config(str(ROOT / service.path / "alembic.ini"))
            config.attributes["database_url"] = service_url(service.name, database=DATABASE)
            command.upgrade(config, "head")


def access_log(prefix: str, path: Path) -> dict[str, str]:
    """A replica's access lines into `path` with BENCH_ACCESS_LOGS; else as before (none:
    the apps log at WARNING)."""
    return {f"{prefix}ACCESS_LOG": str(path)} if ACCESS_LOGS else {}


def start_shop(args: argparse.Namespace) -> Shop:
    from shared.dbadmin import service_url

    services = registry.load()
    workdir = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    workdir.chmod(0o755)
    shop = Shop(workdir)
    ports = shop_ports(args)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for service in services:
        prefix = service.env_prefix
        env[f"{prefix}REDIS_URL"] = args.redis_url
        # Access lines cost each request CPU; BENCH_ACCESS_LOGS=1 keeps them for a diagnosis.
        env[f"{prefix}LOG_LEVEL"] = "INFO" if ACCESS_LOGS else "WARNING"
        # PostgreSQL's 100 connection slots are shared by everything on the dev machine:
        # the web apps open their whole pool at start, so that none is refused mid-run.
        env[f"{prefix}DB_POOL_PREFILL"] = "true"
        env[f"{prefix}JWKS_URL"] = f"http://127.0.0.1:{ports['users'][0]}/.well-known/jwks.json"
        if service.has_migrations:
            env[f"{prefix}DATABASE_URL"] = service_url(service.name, database=DATABASE)
    urls = {name: [f"http://127.0.0.1:{p}" for p in found] for name, found in ports.items()}
    env["GATEWAY_SERVICES"] = registry.gateway_services_json(services, urls)
    env["USERS_JWT_PRIVATE_KEY_FILE"] = str(SIGNING_KEY)
    # Setup only: hashing is the login path's cost, not the checkout's.
    env["USERS_BCRYPT_ROUNDS"] = "4"
    # users serves the setup only: a few connections of PostgreSQL's shared 100 do.
    env["USERS_DB_POOL_SIZE"] = "4"
    # The setup may take long on a busy machine.
    env["USERS_ACCESS_TOKEN_TTL_SECONDS"] = "7200"  # noqa: S105 (a lifetime, not a secret)
    env["ORDERS_SMTP_PORT"] = str(GATEWAY_PORT + 1)
    env["ORDERS_MAIL_SINK_DIR"] = str(workdir / "mail")
    env["PAYMENTS_PROVIDER_LATENCY_SECONDS"] = str(args.provider_latency)
    env.update(args.extra_env)

    def start(name: str, command: list[str], extra: dict[str, str] | None = None) -> None:
        log = (workdir / f"{name}.log").open("wb")
        # BENCH_REPLICA_ENV gives one replica an environment of its own: e.g. an older
        # copy of a package on its PYTHONPATH, to compare two versions in the same run.
        own = {**env, **(extra or {}), **args.replica_env.get(name, {})}
        process = subprocess.Popen(command, cwd=ROOT, env=own, stdout=log, stderr=log)
        shop.processes.append(process)
        shop.names[process.pid] = name

    try:  # a start cut short (nginx missing, a port taken) leaves nothing running
        for service in services:
            for i, p in enumerate(ports[service.name], start=1):
                shop.web_ports[f"{service.name}-{i}"] = p
                start(
                    f"{service.name}-{i}",
                    stack_script.uvicorn_command(service.app, p),
                    {
                        f"{service.env_prefix}REPLICA_NAME": f"{service.name}-{i}",
                        **access_log(
                            service.env_prefix, workdir / f"{service.name}-{i}.access.log"
                        ),
                    },
                )
            for worker, command in service.workers.items():
                for i in range(1, args.worker_replicas.get(f"{service.name}-{worker}", 1) + 1):
                    start(
                        f"{service.name}-{worker}-{i}",
                        ["/bin/sh", "-c", f"exec {command}"],
                        {f"{service.env_prefix}REPLICA_NAME": f"{service.name}-{worker}-{i}"},
                    )
        nginx_dir = workdir / "nginx"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "deploy/nginx/render.py"),
                "--out",
                str(nginx_dir),
                "--listen",
                f"127.0.0.1:{GATEWAY_PORT}",
                "--access-log",
                str(workdir / "nginx-access.log") if ACCESS_LOGS else "/dev/null",
                "--error-log",
                str(workdir / "nginx-error.log"),
                *(
                    a
                    for name, found in ports.items()
                    for a in ("--upstream", f"{name}=" + ",".join(f"127.0.0.1:{p}" for p in found))
                ),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        start(
            "nginx",
            [NGINX, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"), "-g", "daemon off;"],
        )
        wait_ready(urls, workdir)
        # A replica that could not bind its port has exited, while another server there
        # answered its health check: its figures would be that server's.
        if exited := [shop.names[p.pid] for p in shop.processes if p.poll() is not None]:
            raise SystemExit(f"{', '.join(exited)} exited at start; logs in {workdir}")
    except BaseException:
        shop.stop()
        raise
    return shop


def shop_ports(args: argparse.Namespace) -> dict[str, list[int]]:
    """Each service's replica ports: FIRST_PORT + 100 per service, one per replica."""
    ports: dict[str, list[int]] = {}
    for i, service in enumerate(registry.load()):
        first = FIRST_PORT + 100 * i
        ports[service.name] = list(range(first, first + args.replicas.get(service.name, 1)))
    return ports


def refuse_taken_ports(args: argparse.Namespace) -> None:
    """Stop before touching anything if another server holds one of the shop's ports (a
    bench killed with its shop still running): it would answer in the shop's place, and
    that bench's database and Redis are the ones this run would wipe."""
    ports = [p for found in shop_ports(args).values() for p in found]
    for port in [*ports, GATEWAY_PORT, GATEWAY_PORT + 1]:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise SystemExit(
                    f"port {port} is taken (an earlier bench's shop still running?): "
                    f"`ss -ltnp 'sport = :{port}'` names what holds it"
                ) from None


def wait_ready(urls: dict[str, list[str]], workdir: Path) -> None:
    deadline = time.monotonic() + 300
    for name, found in urls.items():
        for url in found:
            while True:
                try:
                    if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start; logs in {workdir}")
                time.sleep(0.2)


# ---------------------------------------------------------------- CPU from /proc


def _children(pid: int) -> Iterator[int]:
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                yield int(child)
                yield from _children(int(child))
    except OSError:
        return


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _postgres_backends() -> list[int]:
    """PostgreSQL backends connected to the bench database (their title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {DATABASE} " in title:
                found.append(int(entry.name))
    return found


def machine_speed() -> float:
    """CPU seconds of SPEED_LOOP in this process (blocks its event loop for about that)."""
    start = time.process_time()
    exec(SPEED_LOOP, {})  # noqa: S102 (our own constant code)
    return time.process_time() - start


def cpu_snapshot(shop: Shop) -> dict[str, dict[int, float]]:
    """CPU seconds per process: the shop's own (and their children), PostgreSQL's."""
    shop_pids = {pid for root in shop.pids() for pid in (root, *_children(root))}
    return {
        "shop": {pid: _cpu_seconds(pid) for pid in shop_pids},
        "postgres": {pid: _cpu_seconds(pid) for pid in _postgres_backends()},
        "client": {os.getpid(): _cpu_seconds(os.getpid())},
    }


def cpu_used(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    # A backend that connected during the run started from zero.
    return {
        kind: sum(after[kind][pid] - before[kind].get(pid, 0.0) for pid in after[kind])
        for kind in after
    }


def cpu_by_process(
    shop: Shop, before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds of each of the shop's processes (nginx's workers count as nginx)."""
    used: dict[str, float] = {}
    for root in shop.pids():
        for pid in (root, *_children(root)):
            spent = after["shop"].get(pid, 0.0) - before["shop"].get(pid, 0.0)
            used[shop.names[root]] = used.get(shop.names[root], 0.0) + spent
    ranked = sorted(used.items(), key=lambda item: -item[1])
    return {name: round(seconds, 2) for name, seconds in ranked}


def requests_served(shop: Shop) -> dict[str, float]:
    """Requests each web replica has answered so far (its `http_requests_total`)."""
    served: dict[str, float] = {}
    for name, port in shop.web_ports.items():
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        served[name] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("http_requests_total{")
        )
    return served


def cpu_per_request(
    by_process: dict[str, float], before: dict[str, float], after: dict[str, float]
) -> dict[str, tuple[int, float]]:
    """(requests, CPU ms per request) of each web replica that served some in the run."""
    figures: dict[str, tuple[int, float]] = {}
    for name, count in after.items():
        served = count - before.get(name, 0.0)
        if served > 0 and name in by_process:
            figures[name] = (round(served), round(1000 * by_process[name] / served, 2))
    return figures


class WaitSampler:
    """Samples what the bench database's busy backends wait on, every 50 ms: where the
    saga's transactions queue (locks, commit flushes, client reads) under load."""

    QUERY = """
        SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS what, count(*)
        FROM pg_stat_activity
        WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()
        GROUP BY 1
    """

    CONNECTIONS = """
        SELECT count(*) FILTER (WHERE datname = $1), count(*) FROM pg_stat_activity
    """

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.samples = 0
        self.connections = (0, 0)  # the most seen: the bench database's, the server's
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        import asyncpg
        from sqlalchemy import make_url

        from shared.dbadmin import admin_url

        url = make_url(admin_url()).set(database=DATABASE, drivername="postgresql")
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            while True:
                for row in await conn.fetch(self.QUERY, DATABASE):
                    self.seen[row["what"]] += row["count"]
                if self.samples % 20 == 0:
                    mine, total = await conn.fetchrow(self.CONNECTIONS, DATABASE)
                    self.connections = (
                        max(self.connections[0], mine),
                        max(self.connections[1], total),
                    )
                self.samples += 1
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        """Average active backends per wait, over the samples."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        n = max(self.samples, 1)
        return {what: round(count / n, 2) for what, count in self.seen.most_common(8)}


AUDIT = """
    WITH mine AS (
        SELECT DISTINCT o.id, o.status FROM orders.orders o
        JOIN orders.order_items i ON i.order_id = o.id WHERE i.product_id = $1
    ), charges AS (
        SELECT p.order_id, count(*) FILTER (WHERE c.kind = 'charge' AND c.succeeded) AS charged,
               count(*) FILTER (WHERE c.kind = 'refund' AND c.succeeded) AS refunded,
               max(c.requests) AS requests
        FROM payments.payments p
        JOIN payments.provider_charges c ON c.idempotency_key IN (
            'charge:' || p.provider_key::text, 'refund:' || p.provider_key::text)
        WHERE p.order_id IN (SELECT id FROM mine) GROUP BY p.order_id
    )
    SELECT m.status, count(*) AS orders,
           count(*) FILTER (WHERE coalesce(c.charged, 0) > 1) AS charged_twice,
           count(*) FILTER (WHERE m.status = 'paid' AND coalesce(c.charged, 0) <> 1)
               AS paid_not_charged_once,
           count(*) FILTER (WHERE m.status <> 'paid'
                            AND coalesce(c.charged, 0) > coalesce(c.refunded, 0))
               AS charged_not_paid,
           coalesce(sum(c.refunded), 0) AS refunds
    FROM mine m LEFT JOIN charges c ON c.order_id = m.id GROUP BY 1
"""


async def audit(product_id: int, stock: tuple[int, int]) -> dict[str, Any]:
    """What the database says about this run's orders: statuses, charges per order, and
    whether the stock taken matches the orders holding it (no oversell, nothing lost)."""
    import asyncpg
    from sqlalchemy import make_url

    from shared.dbadmin import admin_url

    url = make_url(admin_url()).set(database=DATABASE, drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        rows = await conn.fetch(AUDIT, product_id)
    finally:
        await conn.close()
    statuses = {r["status"]: r["orders"] for r in rows}
    holding = statuses.get("paid", 0) + statuses.get("awaiting_payment", 0)
    # A `pending` order may hold a reservation whose StockReserved orders has not applied.
    in_flight = statuses.get("pending", 0)
    before, after = stock
    return {
        "orders_by_status": statuses,
        "stock_before_after_taken": (before, after, before - after),
        "stock_held_by_orders_settled_pending": (holding, in_flight),
        "oversell": after < 0 or before - after > holding + in_flight,
        "stock_matches_orders": before - after == holding,
        "charged_twice": sum(r["charged_twice"] for r in rows),
        "paid_not_charged_once": sum(r["paid_not_charged_once"] for r in rows),
        "charged_not_paid_nor_refunded": sum(r["charged_not_paid"] for r in rows),
    }


# ---------------------------------------------------------------- the buyers


class BenchHTTPError(Exception):
    """The shop refused a request the bench cannot go on without."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read whole."""

    method: str
    path: str
    status_code: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise BenchHTTPError(f"{self.method} {self.path}: {self.status_code} {self.body!r}")


class Client:
    """The buyers' HTTP client, on aiohttp: it costs about a fifth of httpx's CPU per
    request (226-250 us against 1,246-1,388 here, 2,000 POSTs to a local nginx), and the
    client shares the machine's two cores with the shop it measures. The sync probes
    (health, /metrics) stay on httpx."""

    def __init__(self, base_url: str, *, local_address: str | None = None, connections: int = 100):
        self.session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(
                limit=connections, local_addr=(local_address, 0) if local_address else None
            ),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def request(
        self, method: str, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        async with self.session.request(method, path, json=json, headers=headers) as response:
            body = await response.read()
            return Answer(method, path, response.status, response.headers, body)

    async def get(self, path: str, *, headers: Mapping[str, str] | None = None) -> Answer:
        return await self.request("GET", path, headers=headers)

    async def post(
        self, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        return await self.request("POST", path, json=json, headers=headers)

    async def aclose(self) -> None:
        await self.session.close()


# A request that got no answer: refused, reset, timed out.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


@dataclass
class Buyer:
    index: int
    client: Client
    headers: dict[str, str]
    carts: list[int] = field(default_factory=list)


@dataclass
class Result:
    scheduled: float
    started: float
    dispatched: float
    placed_at: float | None = None
    placement_s: float | None = None
    awaiting_at: float | None = None
    paid_at: float | None = None
    final: str = "unfinished"
    reason: str | None = None


@dataclass
class Counters:
    statuses: Counter[int] = field(default_factory=Counter)
    # What each 5xx said: the request and the problem's slug (or nginx's status line).
    errors: Counter[str] = field(default_factory=Counter)
    retried: Counter[int] = field(default_factory=Counter)  # by the status retried on

    def saw(self, response: Answer) -> Answer:
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.errors[
                f"{response.method} {_kind(response.path.partition('?')[0])} "
                f"{response.status_code} {_slug(response)}"
            ] += 1
        return response


def _kind(path: str) -> str:
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))


def _slug(response: Answer) -> str:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return str(response.json().get("type", "")).rsplit("/", 1)[-1]
    return str(response.headers.get("content-type", ""))


def buyer_client(index: int, base_url: str, connections: int) -> Client:
    address = f"127.1.{index // 250}.{index % 250 + 1}"
    return Client(base_url, local_address=address, connections=connections)


async def register(index: int, base_url: str, run: str) -> Buyer:
    client = buyer_client(index, base_url, 4)
    email = f"b{index}-{run}@bench.example.com"
    response = await setup_post(
        client,
        "/api/auth/register/",
        json={"email": email, "username": f"b{index}-{run}", "password": PASSWORD},
    )
    if response.status_code != 409:  # a retried registration that had gone through
        response.raise_for_status()
    login = await setup_post(
        client, "/api/auth/login/", json={"email": email, "password": PASSWORD}
    )
    login.raise_for_status()
    return Buyer(index, client, {"Authorization": f"Bearer {login.json()['access']}"})


async def setup_post(client: Client, url: str, **kwargs: Any) -> Answer:
    """A setup request, tried again when the loaded shop answers 5xx or drops it."""
    for attempt in range(10):
        try:
            response = await client.post(url, **kwargs)
        except TRANSPORT_ERRORS:
            if attempt == 9:
                raise
        else:
            if response.status_code < 500 or attempt == 9:
                return response
        await asyncio.sleep(1 + attempt % 3)
    raise AssertionError("unreachable")


async def fill_cart(buyer: Buyer, product_id: int) -> None:
    cart = await setup_post(buyer.client, "/api/shopping-carts/", json={}, headers=buyer.headers)
    cart.raise_for_status()
    cart_id = cart.json()["id"]
    deadline = time.monotonic() + 60
    while True:  # the orders replica learns a new product from catalog's events
        if time.monotonic() > deadline:
            raise BenchHTTPError(f"cart {cart_id}: the line was refused for 60 s")
        line = await setup_post(
            buyer.client,
            "/api/cart-items/",
            json={"cart_id": cart_id, "product_id": product_id, "quantity": 1},
            headers=buyer.headers,
        )
        if line.status_code == 201:
            break
        if line.status_code != 422:
            line.raise_for_status()
        await asyncio.sleep(0.2)
    buyer.carts.append(cart_id)


async def staff_headers(client: Client, env: dict[str, str]) -> dict[str, str]:
    email = "bench-staff@bench.example.com"
    await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "users.cli",
            "create-staff",
            "--email",
            email,
            "--password",
            PASSWORD,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    login = await client.post("/api/auth/login/", json={"email": email, "password": PASSWORD})
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access']}"}


async def new_product(client: Client, staff: dict[str, str], stock: int) -> int:
    category = await client.post(
        "/api/categories/", json={"name": f"Bench {uuid.uuid4().hex[:8]}"}, headers=staff
    )
    category.raise_for_status()
    product = await client.post(
        "/api/products/",
        json={
            "name": f"Bench product {uuid.uuid4().hex[:6]}",
            "price": "19.90",
            "stock_quantity": stock,
            "category_id": category.json()["id"],
        },
        headers=staff,
    )
    product.raise_for_status()
    return int(product.json()["id"])


async def stock_of(client: Client, product_id: int) -> int:
    # With an Authorization header the micro-cache steps aside: the catalog's answer now.
    response = await client.get(
        f"/api/products/{product_id}/", headers={"Authorization": "Bearer -"}
    )
    response.raise_for_status()
    return int(response.json()["stock_quantity"])


async def checkout(buyer: Buyer, product_id: int, result: Result, counters: Counters) -> None:
    """Fill the cart, place its order, wait for the stock, pay, wait for the money.

    The clock of an order (placement, checkout-to-paid) starts at its placement."""
    client, headers = buyer.client, buyer.headers
    if not buyer.carts:
        await fill_cart(buyer, product_id)
    cart_id = buyer.carts.pop()
    result.started = time.monotonic()
    order_key = uuid.uuid4().hex
    order = await send_until_answered(
        counters,
        lambda: client.post(
            "/api/orders/",
            json={"cart_id": cart_id},
            headers={**headers, "Idempotency-Key": order_key},
        ),
    )
    result.placed_at = time.monotonic()
    result.placement_s = result.placed_at - result.started
    # 200: a retry with the key replayed the order an earlier (lost) answer had placed.
    if order.status_code not in (200, 201):
        result.final = f"placement {order.status_code}"
        return
    order_id = order.json()["id"]
    status = await wait_for_change(client, headers, order_id, "pending", counters)
    if status != "awaiting_payment":
        result.final = status
        return
    result.awaiting_at = time.monotonic()
    key = uuid.uuid4().hex
    while True:
        paid = await send_until_answered(
            counters,
            lambda: client.post(
                "/api/payments/",
                json={"order_id": order_id, "method": "card", "card": CARD},
                headers={**headers, "Idempotency-Key": key},
            ),
        )
        if paid.status_code == 202:
            break
        if paid.status_code not in (404, 409) or time.monotonic() - result.started > 60:
            result.final = f"payment {paid.status_code}"
            return
        await asyncio.sleep(0.1)  # payments has not learned the order yet
    status = await wait_for_change(client, headers, order_id, "awaiting_payment", counters)
    result.final = status
    if status == "paid":
        result.paid_at = time.monotonic()


async def send_until_answered(counters: Counters, send: Callable[[], Awaitable[Answer]]) -> Answer:
    """Send; when the answer was lost (502, 504: the shop may have done it) or deferred
    (503, or any answer with Retry-After: 429, a 409 while the first request with the key
    still runs), wait its Retry-After (else 1 s) and send the same request again, a
    placement or payment with the same Idempotency-Key, as a well-behaved client (the
    storefront's `sameAttempt`) does. Every such answer is still counted."""
    for attempt in range(RETRIES + 1):
        response = counters.saw(await send())
        deferred = response.status_code in (502, 503, 504) or "Retry-After" in response.headers
        if not deferred or attempt == RETRIES:
            return response
        counters.retried[response.status_code] += 1
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    raise AssertionError("unreachable")


async def wait_for_change(
    client: Client,
    headers: dict[str, str],
    order_id: int,
    status: str,
    counters: Counters,
) -> str:
    for _ in range(4):
        response = await send_until_answered(
            counters,
            lambda: client.get(
                f"/api/orders/{order_id}/?changed_from={status}&wait=25", headers=headers
            ),
        )
        if response.status_code != 200:
            return f"poll {response.status_code}"
        now: str = response.json()["status"]
        if now != status:
            return now
    return status


# ---------------------------------------------------------------- reporting


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(values: list[float]) -> str:
    return " / ".join(f"{pct(values, p) * 1000:.0f}" for p in (50, 95, 99)) + " ms"


def report(
    name: str,
    results: list[Result],
    counters: Counters,
    cpu: dict[str, float],
    idle: dict[str, float],
    by_process: dict[str, float],
    waits: dict[str, float],
    wall: float,
    checks: dict[str, Any],
    speeds: tuple[float, float],
    extra: dict[str, Any],
) -> dict[str, Any]:
    t0 = min(r.started for r in results)
    placed = [r for r in results if r.placed_at is not None and r.final != "placement"]
    paid = [r for r in results if r.paid_at is not None]
    outcomes = Counter(r.final for r in results)
    last_final = max((r.paid_at or r.placed_at or 0) for r in results) - t0
    placing = max(r.placed_at or t0 for r in results) - t0
    paying = max((r.paid_at or t0) for r in paid) - t0 if paid else 0.0
    shop_cpu = cpu["shop"] + cpu["postgres"]
    # What the shop burns doing nothing (consumers' blocking reads, sweeps), over this run.
    idle_cpu = (idle["shop"] + idle["postgres"]) * wall
    figures = {
        "run": name,
        "orders": len(results),
        "placed_per_s": len(placed) / placing if placing else float("nan"),
        "paid_per_s": len(paid) / paying if paying else float("nan"),
        "placement_ms": ms([r.placement_s for r in results if r.placement_s is not None]),
        "checkout_to_paid_ms": ms([r.paid_at - r.started for r in paid if r.paid_at]),
        "outcomes": dict(outcomes),
        "http_5xx": sum(n for code, n in counters.statuses.items() if code >= 500),
        "http_statuses": dict(counters.statuses),
        "http_5xx_by_kind": dict(counters.errors.most_common(6)),
        "retried_by_status": dict(counters.retried),
        **checks,
        "all_final_after_s": round(last_final, 2),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_ms_per_paid_order": round(1000 * shop_cpu / len(paid), 1) if paid else None,
        "cpu_ms_per_paid_order_less_idle": (
            round(1000 * (shop_cpu - idle_cpu) / len(paid), 1) if paid else None
        ),
        # Comparable across runs on a machine whose speed moves (SPEED_LOOP above).
        "speed_loop_cpu_s_before_after": tuple(round(v, 3) for v in speeds),
        "cpu_ms_per_paid_order_at_reference_speed": (
            round(1000 * shop_cpu / len(paid) * REFERENCE_SPEED_S / (sum(speeds) / 2), 1)
            if paid
            else None
        ),
        "cpu_s_by_process": by_process,
        "postgres_active_backends_by_wait": waits,
        "client_start_lag_ms": ms([r.dispatched - r.scheduled for r in results]),
        "wall_s": round(wall, 1),
        **extra,
    }
    print(f"\n== {name}")
    for key, value in figures.items():
        print(f"  {key:24} {value}")
    return figures


# ---------------------------------------------------------------- runs


async def run_orders(
    buyers: list[Buyer], product_id: int, schedule: list[float], counters: Counters
) -> list[Result]:
    """Start order i at schedule[i] seconds from now, by the next buyer without an order
    in flight (a customer has one cart)."""
    free: asyncio.Queue[Buyer] = asyncio.Queue()
    for buyer in buyers:
        free.put_nowait(buyer)
    t0 = time.monotonic()
    results: list[Result] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(buyer: Buyer, result: Result) -> None:
        try:
            await checkout(buyer, product_id, result, counters)
        except (BenchHTTPError, *TRANSPORT_ERRORS) as exc:
            result.final = f"error {type(exc).__name__}"
        finally:
            free.put_nowait(buyer)

    for offset in schedule:
        delay = t0 + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        buyer = await free.get()
        now = time.monotonic()
        result = Result(scheduled=t0 + offset, started=now, dispatched=now)
        results.append(result)
        tasks.append(asyncio.create_task(one(buyer, result)))
    await asyncio.gather(*tasks)
    return results


async def bench(args: argparse.Namespace, shop: Shop) -> list[dict[str, Any]]:
    base = f"http://127.0.0.1:{GATEWAY_PORT}"
    run = uuid.uuid4().hex[:6]
    figures = []
    env = {**os.environ, **_stack_env()}
    admin = Client(base)
    try:
        staff = await staff_headers(admin, env)
        rate_orders = int(args.rate * args.seconds) if "rate" in args.modes else 0
        flash = args.flash_buyers if "flash" in args.modes else 0
        # A customer has one cart, so one order in flight: the flash sale needs as many
        # accounts as buyers, the fixed rate as many as are in flight at once.
        customers = max(flash, min(args.customers, rate_orders)) + 1
        print(f"registering {customers} customers ...", flush=True)
        buyers: list[Buyer] = []
        for start in range(0, customers, 50):
            buyers += await asyncio.gather(
                *(register(i, base, run) for i in range(start, min(customers, start + 50)))
            )
        for mode in args.modes:
            if mode == "rate":
                orders = rate_orders
                product = await new_product(admin, staff, stock=orders + 10)
                schedule = [i / args.rate for i in range(orders)]
                name = f"rate {args.rate:g}/s for {args.seconds:g} s"
            else:
                orders = flash
                product = await new_product(admin, staff, stock=args.flash_units)
                schedule = [0.0] * orders
                name = f"flash sale: {orders} buyers, {args.flash_units} units"
            print(f"running {name} ...", flush=True)
            # The orders replica learns the new product from catalog's events: the extra
            # account's cart takes a line of it first (and is never ordered).
            await fill_cart(buyers[-1], product)
            active = buyers[: min(len(buyers) - 1, orders)]
            if mode == "flash":
                # The buyers of a flash sale wait with the product in their cart: the
                # release is their placements, all at once.
                for start in range(0, len(active), 50):
                    await asyncio.gather(
                        *(fill_cart(b, product) for b in active[start : start + 50])
                    )
            stock_before = await stock_of(admin, product)
            await asyncio.sleep(2)  # let the setup's events drain
            speed_before = machine_speed()  # outside the client's measured CPU
            quiet = cpu_snapshot(shop)
            await asyncio.sleep(IDLE_SECONDS)
            idle = {k: v / IDLE_SECONDS for k, v in cpu_used(quiet, cpu_snapshot(shop)).items()}
            counters = Counters()
            served_before = requests_served(shop)
            before = cpu_snapshot(shop)
            sampler = WaitSampler()
            sampler.start()
            started = time.monotonic()
            load_start = os.getloadavg()[0]
            results = await run_orders(active, product, schedule, counters)
            wall = time.monotonic() - started
            load = (round(load_start, 1), round(os.getloadavg()[0], 1))
            after = cpu_snapshot(shop)
            speeds = (speed_before, machine_speed())
            served_after = requests_served(shop)
            waits = await sampler.stop()
            # Stock commits and releases, and orders' answers, follow the outcomes: audit
            # once the figures stop moving (or after 30 s).
            checks: dict[str, Any] = {}
            for _ in range(10):
                await asyncio.sleep(3)
                stock_after = await stock_of(admin, product)
                settled, checks = checks, await audit(product, (stock_before, stock_after))
                if settled == checks:
                    break
            figures.append(
                report(
                    name,
                    results,
                    counters,
                    cpu_used(before, after),
                    idle,
                    by_process := cpu_by_process(shop, before, after),
                    waits,
                    wall,
                    checks,
                    speeds,
                    {
                        "requests_and_cpu_ms_per_request": cpu_per_request(
                            by_process, served_before, served_after
                        ),
                        "load_average_start_end": load,
                        "pg_connections_max_bench_server": sampler.connections,
                        "client_cpu_s": round(cpu_used(before, after)["client"], 2),
                    },
                )
            )
        for buyer in buyers:
            await buyer.client.aclose()
    finally:
        await admin.aclose()
    return figures


def _stack_env() -> dict[str, str]:
    from shared.dbadmin import service_url

    return {
        "USERS_DATABASE_URL": service_url("users", database=DATABASE),
        "USERS_BCRYPT_ROUNDS": "4",
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    e = os.environ.get
    parser.add_argument("--rate", type=float, default=float(e("BENCH_RATE", "50")))
    parser.add_argument("--seconds", type=float, default=float(e("BENCH_SECONDS", "20")))
    parser.add_argument("--modes", default=e("BENCH_MODES", "rate,flash"))
    parser.add_argument("--flash-buyers", type=int, default=int(e("BENCH_FLASH_BUYERS", "1000")))
    parser.add_argument("--flash-units", type=int, default=int(e("BENCH_FLASH_UNITS", "300")))
    parser.add_argument("--customers", type=int, default=int(e("BENCH_CUSTOMERS", "250")))
    parser.add_argument(
        "--provider-latency", type=float, default=float(e("BENCH_PROVIDER_LATENCY_S", "0.3"))
    )
    parser.add_argument("--redis-url", default=e("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--replicas", default=e("BENCH_REPLICAS", ""), help="orders=2,catalog=1")
    parser.add_argument(
        "--worker-replicas", default=e("BENCH_WORKER_REPLICAS", ""), help="payments-worker=2"
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=value for every process")
    parser.add_argument(
        "--replica-env",
        default=e("BENCH_REPLICA_ENV", ""),
        help="orders-2:PYTHONPATH=/old/services/orders/src (';' between entries)",
    )
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    args.replicas = _counts(args.replicas)
    args.worker_replicas = _counts(args.worker_replicas)
    args.extra_env = dict(item.split("=", 1) for item in args.env)
    spec, args.replica_env = args.replica_env, {}
    for item in filter(None, spec.split(";")):
        name, _, assignment = item.partition(":")
        variable, _, value = assignment.partition("=")
        args.replica_env.setdefault(name, {})[variable] = value
    return args


def _counts(spec: str) -> dict[str, int]:
    return {k: int(v) for k, v in (item.split("=") for item in spec.split(",") if item)}


def main() -> None:
    args = parse_args()
    if not SIGNING_KEY.exists():  # `make bench-checkout` makes it; a direct run may not have
        sys.exit(f"{SIGNING_KEY.relative_to(ROOT)} is missing: run `make keys` first")
    # SIGTERM (make interrupted, `kill`) ends the bench through its cleanup, not around it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    refuse_taken_ports(args)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    prepare_database()
    shop = start_shop(args)
    try:
        import uvloop  # the client's event loop costs less CPU on uvloop

        figures = uvloop.run(bench(args, shop))
    except BaseException:
        shop.stop()
        print(f"the shop's logs: {shop.workdir}", file=sys.stderr)
        raise
    shop.stop()
    if os.environ.get("BENCH_KEEP_LOGS") or ACCESS_LOGS:
        print(f"the shop's logs: {shop.workdir}")
    else:
        shutil.rmtree(shop.workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
