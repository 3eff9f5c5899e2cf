"""`make bench`: the catalog's read path under load, through nginx, at 100k products.

By default it starts its own small stack (database `shop_bench`, Redis database 13,
catalog replicas and nginx on ports of their own, so a running `make run` is left alone),
seeds it once (SEED_PRODUCTS, default 100000), then runs wrk (Debian's package) through
nginx. `--against-run` (make bench BENCH_ARGS=--against-run) measures `make run`'s own
gateway and catalog replicas instead (seed them first: `make seed SEED_PRODUCTS=100000`).

Every read reports req/s, p50/p99 and the CPU time its service's replicas spent per request
(utime + stime from /proc/<pid>/stat over the measured run, divided by the requests wrk
completed): a figure that holds on a busy machine where req/s does not.

- list (micro-cache): the first product page, anonymous: the gateway's micro-cache
- list (Redis): the same page with an Authorization header, so nginx passes every request
  to a replica, which answers from Redis; `bare nginx` serves the same bytes from a file
  in the same run, the ceiling it is compared with
- detail (Redis): product 7 with an Authorization header
- detail (popular): 1,000 popular ids, anonymous (micro-cache, refreshed from Redis)
- detail (any, cold / warm): any of the ids, first right after the product cache was
  emptied (PostgreSQL), then once a pass over every id put each page in Redis
- search / filtered: full-text search and a filtered list, with an Authorization header
- `@ fixed rate`: the popular details and the Redis-cached detail again at half the rate
  measured at saturation in the same run (requests paced from a clock by wrk's Lua
  `delay()`), where the tail is what matters
- with `--against-run` also a signed-in customer's own reads, each charged to its own
  service's replicas: `/api/users/me/`, one order, the order list, the order history (a
  customer is registered and places one order through the saga first)

    make bench [SEED_PRODUCTS=100000] [BENCH_SECONDS=15] [BENCH_CONNECTIONS=64]
               [CATALOG_REPLICAS=2] [BENCH_READS=list-redis,detail-redis,...,me,order]
               [BENCH_RATE=<fixed rate instead of half the saturated one>]
               [BENCH_ARGS=--against-run]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATABASE = os.environ.get("BENCH_DATABASE", "shop_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
GATEWAY = os.environ.get("BENCH_GATEWAY", "127.0.0.1:18080")
BARE = os.environ.get("BENCH_BARE_NGINX", "127.0.0.1:18081")
FIRST_PORT = int(os.environ.get("BENCH_FIRST_PORT", "18200"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
SERVICE_ONLY = ("Authorization: Bearer bench",)  # nginx never answers these from its cache
CLK_TICK = os.sysconf("SC_CLK_TCK")

DETAIL_SCRIPT = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/products/" .. math.random(1, {products}) .. "/")
end
"""
# Shops have best sellers: most detail views go to a small set of products.
WARM_SCRIPT = """
local id = tonumber(os.getenv("BENCH_WARM_FROM"))
request = function()
  id = id % {products} + 1
  return wrk.format("GET", "/api/products/" .. id .. "/")
end
"""
# Every product page once, in order: what a shop's steady state (or a crawler) leaves.
PACED_SCRIPT = """
-- A fixed rate (wrk2 is not packaged in Debian): wrk calls delay() before each request;
-- the thread's requests are given slots 1/rate apart on a monotonic clock, so the load
-- does not slow down when responses do.
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} bench_timespec;
int clock_gettime(int clock, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval = 1000 / {rate}
local slot = nil
delay = function()
  local now = now_ms()
  if slot == nil or slot < now - 1000 then slot = now end
  slot = slot + interval
  local wait = slot - now
  if wait < 0 then return 0 end
  return wait
end
"""
BARE_NGINX = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 100000;
  server {{
    listen {listen};
    location / {{ root {dir}/www; index index.json; default_type application/json; }}
  }}
}}
"""


@dataclass
class Stack:
    gateway: str
    pids: dict[str, list[int]]  # each service's replicas: whose CPU a read is charged
    redis_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Read:
    key: str
    name: str
    path: str = "/"
    script: str | None = None
    headers: tuple[str, ...] = ()
    service: str = "catalog"
    # A signed-in customer's read (`make run` only): the path may name `{order_id}`, and
    # the customer's token goes in the Authorization header.
    customer: bool = False


@dataclass(frozen=True)
class Customer:
    token: str
    order_id: int


def env() -> dict[str, str]:
    from shared.dbadmin import service_url

    return {
        **os.environ,
        "CATALOG_DATABASE_URL": service_url("catalog", database=DATABASE),
        "CATALOG_REDIS_URL": REDIS_URL,
        # As `make run` runs them: an access log line per request, into a file.
        "CATALOG_LOG_LEVEL": os.environ.get("CATALOG_LOG_LEVEL", "INFO"),
        "CATALOG_CATEGORY_STATS_REFRESH_SECONDS": "0",
    }


def prepare(products: int) -> None:
    """Database, migrations and seed, once: a second run reuses them."""
    from alembic import command
    from alembic.config import Config

    from catalog.seed import load
    from catalog.settings import CatalogSettings
    from shared.dbadmin import bootstrap, service_url

    asyncio.run(bootstrap(DATABASE))
    config = Config(str(ROOT / "services/catalog/alembic.ini"))
    config.attributes["database_url"] = service_url("catalog", database=DATABASE)
    command.upgrade(config, "head")
    settings = CatalogSettings(
        _env_file=None,
        **{  # type: ignore[call-arg]
            "database_url": service_url("catalog", database=DATABASE),
            "redis_url": REDIS_URL,
        },
    )
    have = asyncio.run(_count(settings))
    if have != products:
        loaded = asyncio.run(load(settings, products=products, reset=True))
        print(f"seeded {loaded.products} products in {loaded.seconds:.1f} s")


async def _count(settings: object) -> int:
    import asyncpg

    url = settings.database_url.get_secret_value().replace("+asyncpg", "")  # type: ignore[attr-defined]
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM catalog.products"))
    finally:
        await conn.close()


def _wait_ready(ports: list[int]) -> None:
    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the catalog did not start")
            time.sleep(0.2)


def start_stack(workdir: Path, replicas: int) -> Stack:
    from deploy import registry
    from scripts.stack import uvicorn_command

    processes = []
    ports = [FIRST_PORT + i for i in range(replicas)]
    for port in ports:
        # The same server options as `make run` (uvloop, httptools, proxy headers).
        command = uvicorn_command("catalog.main:create_app", port, python=sys.executable)
        with (workdir / f"catalog-{port}.log").open("wb") as log:
            processes.append(subprocess.Popen(command, env=env(), stdout=log, stderr=log))
    nginx_dir = workdir / "nginx"
    # Every other service's routes point at a closed port: only catalog is benchmarked.
    upstreams = [f"catalog={','.join(f'127.0.0.1:{p}' for p in ports)}"]
    others = [s.name for s in registry.load() if s.name != "catalog"]
    upstreams += [f"{name}=127.0.0.1:9" for name in others]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.nginx.render",
            "--out",
            str(nginx_dir),
            "--listen",
            GATEWAY,
            "--access-log",
            "/dev/null",
            "--error-log",
            str(workdir / "error.log"),
            "--api-rate",
            "100000r/s",
            "--api-burst",
            "100000",
            "--worker-processes",
            "auto",
            *(arg for spec in upstreams for arg in ("--upstream", spec)),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    processes.append(
        subprocess.Popen(
            [NGINX, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"), "-g", "daemon off;"]
        )
    )
    try:
        _wait_ready(ports)
    except BaseException:
        # A stack that did not start is stopped, not left holding its ports.
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        raise
    return Stack(GATEWAY, {"catalog": [p.pid for p in processes[:-1]]}, REDIS_URL, processes)


def running_stack() -> Stack:
    """`make run`'s gateway and every service's replicas (found by their listening ports:
    replica i of a service listens on its registry port + i - 1)."""
    from deploy import registry

    out = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    listening = []
    for line in out:
        port = re.search(r"127\.0\.0\.1:(\d+)\s", line)
        pid = re.search(r"pid=(\d+)", line)
        if port and pid:
            listening.append((int(port.group(1)), int(pid.group(1))))
    pids = {
        service.name: sorted({pid for port, pid in listening if 0 <= port - service.port < 16})
        for service in registry.load()
    }
    if not pids.get("catalog"):
        raise SystemExit("no catalog replica listens on 8200..8215: is `make run` running?")
    gateway = "127.0.0.1:" + os.environ.get("GATEWAY_PORT", "8080")
    return Stack(gateway, pids, os.environ.get("CATALOG_REDIS_URL", "redis://127.0.0.1:6379/0"))


def sign_up_customer(gateway: str) -> Customer:
    """A new customer with one order, placed through the saga and in the order history."""
    client = httpx.Client(base_url=f"http://{gateway}", timeout=30)
    email = f"bench-reads-{time.time_ns()}@example.com"
    password = "bench-reads-password"  # noqa: S105 (a throwaway account)
    with client:
        client.post(
            "/api/auth/register/",
            json={"email": email, "username": email.split("@")[0], "password": password},
        ).raise_for_status()
        login = client.post("/api/auth/login/", json={"email": email, "password": password})
        login.raise_for_status()
        token = login.json()["access"]
        client.headers["Authorization"] = f"Bearer {token}"
        product = client.get("/api/products/", params={"in_stock": "true", "limit": 1})
        product.raise_for_status()
        cart = client.post("/api/shopping-carts/", json={})
        cart.raise_for_status()
        line = {"cart_id": cart.json()["id"], "product_id": product.json()["results"][0]["id"]}
        for _ in range(300):  # right after a seed, orders' replica of products still fills
            added = client.post("/api/cart-items/", json={**line, "quantity": 1})
            if added.status_code != 422:
                break
            time.sleep(0.1)
        added.raise_for_status()
        order = client.post("/api/orders/", json={"cart_id": cart.json()["id"]})
        order.raise_for_status()
        order_id = int(order.json()["id"])
        client.get(
            f"/api/orders/{order_id}/", params={"changed_from": "pending", "wait": 20}
        ).raise_for_status()
        for _ in range(100):  # the projector folds the order in within a moment
            if client.get("/api/orders/history/").json()["results"]:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the order never reached the order history: is the projector up?")
    return Customer(token, order_id)


def start_bare_nginx(workdir: Path, body: bytes, path: str) -> subprocess.Popen[bytes]:
    """A bare nginx serving `body` as a file at `path`: the ceiling for the same bytes."""
    bare = workdir / "bare"
    target = bare / "www" / path.lstrip("/") / "index.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(body)
    conf = bare / "nginx.conf"
    conf.write_text(BARE_NGINX.format(dir=bare, listen=BARE))
    process = subprocess.Popen([NGINX, "-p", str(bare), "-c", str(conf), "-g", "daemon off;"])
    served = None
    for _ in range(50):
        try:
            served = httpx.get(f"http://{BARE}{path}", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    # Another server on the port would answer instead (and wrk would measure its 404s).
    if process.poll() is not None or served is None or served.content != body:
        process.kill()
        raise SystemExit(f"the bare nginx did not start on {BARE} (port taken? BENCH_BARE_NGINX)")
    return process


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a PostgreSQL backend whose connection closed
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TICK


def postgres_pids() -> list[int]:
    """PostgreSQL's processes on this machine (its backends included): the database's
    share of a read, which the replicas' CPU does not show."""
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def run_queue_wait_seconds(pids: list[int]) -> float:
    """Time the processes' threads spent runnable but waiting for a CPU
    (/proc/<pid>/task/<tid>/schedstat, second field, ns): on a shared machine, the tail."""
    total = 0
    for pid in pids:
        tasks = Path(f"/proc/{pid}/task")
        for task in tasks.iterdir() if tasks.exists() else ():
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended, or a kernel without schedstats
    return total / 1e9


def wrk(
    read: Read,
    stack: Stack,
    *,
    seconds: int,
    connections: int,
    workdir: Path,
    host: str | None = None,
    rate: float | None = None,
    customer: Customer | None = None,
) -> dict[str, str]:
    script = read.script
    path, headers = read.path, read.headers
    if customer is not None:
        path = path.format(order_id=customer.order_id)
        headers = (*headers, f"Authorization: Bearer {customer.token}")
    pids = stack.pids.get(read.service, [])
    if rate is not None:
        paced = workdir / f"paced-{read.key}.lua"
        base = (workdir / read.script).read_text() if read.script else ""
        paced.write_text(base + PACED_SCRIPT.format(rate=rate))
        script = paced.name
    args = [WRK, f"-t{os.environ.get('BENCH_THREADS', '1')}", f"-c{connections}", "--latency"]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", str(workdir / script)]
    url = f"http://{host or stack.gateway}{path}"
    # A short unmeasured run first: connections, caches and the replicas' pools warm up.
    subprocess.run([*args, "-d3s", url], capture_output=True, check=True)
    database = postgres_pids()
    before = cpu_seconds(pids)
    database_before = cpu_seconds(database)
    waited = run_queue_wait_seconds(pids)
    out = subprocess.run(
        [*args, f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    cpu = cpu_seconds(pids) - before
    database_cpu = cpu_seconds(database) - database_before
    waited = run_queue_wait_seconds(pids) - waited
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sent = re.search(r"(\d+) requests in", out)
    requests = int(sent.group(1)) if sent else 0
    name = read.name if rate is None else f"{read.name} @ {rate:,.0f}/s fixed rate"
    return {
        "read": name,
        "req/s": rps.group(1) if rps else "?",
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "cpu": f"{cpu / requests * 1e6:,.0f}" if requests and host is None else "-",
        "database": f"{database_cpu / requests * 1e6:,.0f}" if requests and host is None else "-",
        # Seconds the replicas waited for a CPU per second they ran: above ~0.5 the tail
        # is the machine's other load, not the read path (docs/catalog.md).
        "waited": f"{waited / cpu:.1f}" if cpu > 0 and host is None else "-",
        "non-2xx": errors.group(1) if errors else "0",
    }


def cached_product_pages(redis_url: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for _ in client.scan_iter("catalog:cache:product:*:v*", count=10_000))
    finally:
        client.close()


def flush_product_cache(redis_url: str) -> None:
    """Drop the catalog's cache entries only: `make run`'s Redis also holds the streams."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        batch = []
        for key in client.scan_iter("catalog:cache:*", count=10_000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    finally:
        client.close()


def warm(stack: Stack, script: Path, *, products: int, connections: int) -> str:
    """Read every product page once, in rounds of 20 s until 99% of them are in Redis."""
    done = 0
    cached = 0
    for _ in range(12):
        out = subprocess.run(
            [
                WRK,
                "-t1",
                f"-c{connections}",
                "-d20s",
                "-s",
                str(script),
                f"http://{stack.gateway}/",
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "BENCH_WARM_FROM": str(done % products)},
        ).stdout
        sent = re.search(r"(\d+) requests in", out)
        done += int(sent.group(1)) if sent else 0
        cached = cached_product_pages(stack.redis_url)
        if cached >= 0.99 * products:
            break
    return f"{cached:,} of {products:,} product pages in Redis"


READS = [
    Read("list", "product list page (anonymous: nginx micro-cache)", "/api/products/?limit=20"),
    Read("bare", "bare nginx, the same bytes as the list page", "/api/products/"),
    Read(
        "list-redis",
        "product list page (Authorization: Redis hit)",
        "/api/products/?limit=20",
        headers=SERVICE_ONLY,
    ),
    Read(
        "detail-redis",
        "product 7 (Authorization: Redis hit)",
        "/api/products/7/",
        headers=SERVICE_ONLY,
    ),
    Read("hot", "product detail (1,000 popular ids, micro-cache)", script="hot.lua"),
    Read("cold", "product detail (any id, product cache emptied: misses)", script="detail.lua"),
    Read("warm", "product detail (any id, every page read once before)", script="detail.lua"),
    Read(
        "search",
        "search (Authorization: Redis hit)",
        "/api/products/?search=walnut%20lamp",
        headers=SERVICE_ONLY,
    ),
    Read(
        "filtered",
        "filtered list (Authorization: Redis hit)",
        "/api/products/?category=3&min_price=10&max_price=500&ordering=price",
        headers=SERVICE_ONLY,
    ),
    # A signed-in customer's own reads (`--against-run`: they need users and orders).
    Read("me", "GET /api/users/me/ (users)", "/api/users/me/", service="users", customer=True),
    Read(
        "order",
        "GET /api/orders/{id}/ (orders)",
        "/api/orders/{order_id}/",
        service="orders",
        customer=True,
    ),
    Read("orders", "GET /api/orders/ (orders)", "/api/orders/", service="orders", customer=True),
    Read(
        "history",
        "GET /api/orders/history/ (orders)",
        "/api/orders/history/",
        service="orders",
        customer=True,
    ),
]
FIXED_RATE = ("detail-redis", "hot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--against-run", action="store_true", help="measure `make run`'s gateway and replicas"
    )
    options = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does it as root)")
    products = int(os.environ.get("SEED_PRODUCTS", "100000"))
    seconds = int(os.environ.get("BENCH_SECONDS", "15"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "64"))
    replicas = int(os.environ.get("CATALOG_REPLICAS", "2"))
    wanted = set(filter(None, os.environ.get("BENCH_READS", "").split(","))) or {
        r.key for r in READS if options.against_run or not r.customer
    } | {"fixed"}
    if not options.against_run and any(r.customer and r.key in wanted for r in READS):
        raise SystemExit("a customer's reads (me, order, orders, history) need --against-run")
    if not options.against_run:
        prepare(products)
    results = []
    coverage = ""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # nginx's workers run as `nobody` when this runs as root: they must reach the cache.
        workdir.chmod(0o755)
        (workdir / "detail.lua").write_text(DETAIL_SCRIPT.format(products=products))
        (workdir / "hot.lua").write_text(DETAIL_SCRIPT.format(products=min(products, 1000)))
        (workdir / "warm.lua").write_text(WARM_SCRIPT.format(products=products))
        stack = running_stack() if options.against_run else start_stack(workdir, replicas)
        customer = None
        if any(r.customer and r.key in wanted for r in READS):
            customer = sign_up_customer(stack.gateway)
        list_page = httpx.get(f"http://{stack.gateway}/api/products/?limit=20").content
        bare = start_bare_nginx(workdir, list_page, "/api/products/")
        saturated: dict[str, float] = {}
        try:
            for read in READS:
                if read.key not in wanted:
                    continue
                if read.key == "cold":
                    flush_product_cache(stack.redis_url)
                if read.key == "warm":
                    coverage = warm(
                        stack, workdir / "warm.lua", products=products, connections=connections
                    )
                host = BARE if read.key == "bare" else None
                row = wrk(
                    read,
                    stack,
                    seconds=seconds,
                    connections=connections,
                    workdir=workdir,
                    host=host,
                    customer=customer if read.customer else None,
                )
                results.append(row)
                if row["req/s"] != "?":
                    saturated[read.key] = float(row["req/s"])
            for read in READS:
                if "fixed" in wanted and read.key in FIXED_RATE and read.key in saturated:
                    results.append(
                        wrk(
                            read,
                            stack,
                            seconds=seconds,
                            connections=connections,
                            workdir=workdir,
                            rate=float(os.environ.get("BENCH_RATE", 0))
                            or round(saturated[read.key] / 2),
                        )
                    )
        finally:
            bare.send_signal(signal.SIGTERM)
            for process in stack.processes:
                process.send_signal(signal.SIGTERM)
            for process in [bare, *stack.processes]:
                process.wait(timeout=30)
    where = "`make run`" if options.against_run else f"its own stack, {replicas} catalog replicas"
    print(
        f"\n{products} products, {where}, {connections} connections, {seconds} s each, "
        f"wrk and the shop on one machine ({os.cpu_count()} cores)"
        + (f"; after the warm-up pass: {coverage}" if coverage else "")
        + "\n"
    )
    if "bare" in saturated and "list-redis" in saturated:
        ratio = saturated["list-redis"] / saturated["bare"]
        print(f"Redis-cached list page / bare nginx, same bytes, same run: {ratio:.3f}\n")
    if any(r["non-2xx"] != "0" for r in results):
        print(
            "Some reads had non-2xx answers (429: the gateway's rate limit; against `make run`"
            " raise it for the run): their figures describe those answers, not the reads.\n"
        )
    print(
        "| read | req/s | p50 | p99 | its service's replica CPU per request (us)"
        " | PostgreSQL CPU per request (us) | replica run-queue wait per CPU second | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        cells = [r["read"], r["req/s"], r["p50"], r["p99"], r["cpu"], r["database"]]
        cells += [r["waited"], r["non-2xx"]]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
