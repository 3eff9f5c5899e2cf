"""`make bench`: the catalog's read path under load, through nginx, at 100k products.

Starts its own small stack (database `shop_bench`, Redis database 13, catalog replicas
and nginx on ports of their own, so a running `make run` is left alone), seeds it once
(SEED_PRODUCTS, default 100000), then runs wrk (Debian's package) against four reads:

- list:     the first product page (anonymous: the gateway's 1 s micro-cache answers most)
- detail:   products by id (anonymous): 1,000 popular ones; then any of them, first with
            an empty Redis (every read a miss), then once every product page has been
            read (a pass over all ids first, as a shop's steady state would have it)
- search:   full-text search (authenticated-looking, so it reaches the service)
- filtered: category + price range + ordering (reaches the service)

    make bench [SEED_PRODUCTS=100000] [BENCH_SECONDS=15] [BENCH_CONNECTIONS=64] [CATALOG_REPLICAS=2]
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "shop_bench"
REDIS_URL = "redis://127.0.0.1:6379/13"
GATEWAY = "127.0.0.1:18080"
FIRST_PORT = 18200
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"

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


def env() -> dict[str, str]:
    from shared.dbadmin import service_url

    return {
        **os.environ,
        "CATALOG_DATABASE_URL": service_url("catalog", database=DATABASE),
        "CATALOG_REDIS_URL": REDIS_URL,
        "CATALOG_LOG_LEVEL": "WARNING",
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


def start_stack(workdir: Path, replicas: int) -> list[subprocess.Popen[bytes]]:
    processes = []
    ports = [FIRST_PORT + i for i in range(replicas)]
    for port in ports:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "catalog.main:create_app",
                    "--factory",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env=env(),
            )
        )
    nginx_dir = workdir / "nginx"
    # Every other service's routes point at a closed port: only catalog is benchmarked.
    upstreams = [f"catalog={','.join(f'127.0.0.1:{p}' for p in ports)}"]
    upstreams += [f"{name}=127.0.0.1:9" for name in ("users", "orders", "payments", "gateway")]
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy/nginx/render.py"),
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
    return processes


def wrk(
    name: str,
    path: str,
    *,
    seconds: int,
    connections: int,
    script: Path | None = None,
    headers: tuple[str, ...] = (),
) -> dict[str, str]:
    args = [
        WRK,
        f"-t{os.environ.get('BENCH_THREADS', '1')}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
    ]
    for header in headers:
        args += ["-H", header]
    if script:
        args += ["-s", str(script)]
    # A short unmeasured run first: connections, caches and the replicas' pools warm up.
    warm = [arg if not arg.startswith("-d") else "-d3s" for arg in args]
    subprocess.run([*warm, f"http://{GATEWAY}{path}"], capture_output=True, check=True)
    out = subprocess.run(
        [*args, f"http://{GATEWAY}{path}"], capture_output=True, text=True, check=True
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "read": name,
        "req/s": rps.group(1) if rps else "?",
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "non-2xx": errors.group(1) if errors else "0",
    }


def cached_product_pages() -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter("catalog:cache:product:*:v*", count=10_000))
    finally:
        client.close()


def flush_cache() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def warm(script: Path, *, products: int, connections: int) -> str:
    """Read every product page once, in rounds of 20 s until 99% of them are in Redis."""
    done = 0
    for _ in range(12):
        out = subprocess.run(
            [WRK, "-t1", f"-c{connections}", "-d20s", "-s", str(script), f"http://{GATEWAY}/"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "BENCH_WARM_FROM": str(done % products)},
        ).stdout
        sent = re.search(r"(\d+) requests in", out)
        done += int(sent.group(1)) if sent else 0
        cached = cached_product_pages()
        if cached >= 0.99 * products:
            break
    return f"{cached:,} of {products:,} product pages in Redis"


def main() -> None:
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does it as root)")
    products = int(os.environ.get("SEED_PRODUCTS", "100000"))
    seconds = int(os.environ.get("BENCH_SECONDS", "15"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "64"))
    replicas = int(os.environ.get("CATALOG_REPLICAS", "2"))
    prepare(products)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # nginx's workers run as `nobody` when this runs as root: they must reach the cache.
        workdir.chmod(0o755)
        (workdir / "detail.lua").write_text(DETAIL_SCRIPT.format(products=products))
        (workdir / "hot.lua").write_text(DETAIL_SCRIPT.format(products=min(products, 1000)))
        (workdir / "warm.lua").write_text(WARM_SCRIPT.format(products=products))
        processes = start_stack(workdir, replicas)
        try:
            service_only = ("Authorization: Bearer bench",)  # skips the gateway micro-cache
            results = [
                wrk(
                    "product list page", "/api/products/", seconds=seconds, connections=connections
                ),
                wrk(
                    "product detail (1,000 popular ids)",
                    "/",
                    seconds=seconds,
                    connections=connections,
                    script=workdir / "hot.lua",
                ),
            ]
            flush_cache()
            results.append(
                wrk(
                    "product detail (any of the ids, empty Redis: misses)",
                    "/",
                    seconds=seconds,
                    connections=connections,
                    script=workdir / "detail.lua",
                )
            )
            coverage = warm(workdir / "warm.lua", products=products, connections=connections)
            results += [
                wrk(
                    "product detail (any of the ids, every page read once before)",
                    "/",
                    seconds=seconds,
                    connections=connections,
                    script=workdir / "detail.lua",
                ),
                wrk(
                    "search",
                    "/api/products/?search=walnut%20lamp",
                    seconds=seconds,
                    connections=connections,
                    headers=service_only,
                ),
                wrk(
                    "filtered list",
                    "/api/products/?category=3&min_price=10&max_price=500&ordering=price",
                    seconds=seconds,
                    connections=connections,
                    headers=service_only,
                ),
            ]
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
    print(
        f"\n{products} products, {replicas} catalog replicas, {connections} connections, "
        f"{seconds} s each, wrk and the shop on one machine ({os.cpu_count()} cores); "
        f"after the warm-up pass: {coverage}\n"
    )
    print("| read | req/s | p50 | p99 | non-2xx |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['read']} | {r['req/s']} | {r['p50']} | {r['p99']} | {r['non-2xx']} |")


if __name__ == "__main__":
    main()
