"""Render the gateway's nginx config for one environment (stdlib only).

    python deploy/nginx/render.py --out var/nginx --listen 127.0.0.1:8080 \
        --upstream users=127.0.0.1:8100,127.0.0.1:8101

Every file in this folder ending in .conf or .template is copied to --out with its
`{{ name }}` placeholders filled; `upstreams.conf` is generated from --upstream.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def upstream_block(name: str, servers: list[str]) -> str:
    lines = [f"upstream {name} {{", "    least_conn;"]
    # Passive health checks: 3 failures take a replica out for 10 s.
    lines += [f"    server {server} max_fails=3 fail_timeout=10s;" for server in servers]
    lines += [
        "    keepalive 64;",
        "    keepalive_requests 10000;",
        "    keepalive_timeout 60s;",
        "}",
    ]
    return "\n".join(lines)


def fill(text: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise SystemExit(f"render.py: no value for placeholder {{{{ {key} }}}}")
        return values[key]

    return PLACEHOLDER.sub(replace, text)


def render(
    out: Path,
    *,
    listen: str,
    upstreams: dict[str, list[str]],
    access_log: str,
    error_log: str,
    worker_processes: str = "auto",
    max_body_size: str = "1m",
) -> Path:
    out = out.resolve()
    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "conf_dir": str(out),
        "run_dir": str(run_dir),
        "listen": listen,
        "access_log": access_log,
        "error_log": error_log,
        "worker_processes": worker_processes,
        "max_body_size": max_body_size,
        "upstreams_conf": str(out / "upstreams.conf"),
        "routes_conf": str(out / "routes.conf"),
    }
    for source in sorted(HERE.iterdir()):
        if source.suffix in (".conf", ".template"):
            target = out / source.name.removesuffix(".template")
            target.write_text(fill(source.read_text(), values))
    blocks = [upstream_block(name, servers) for name, servers in sorted(upstreams.items())]
    (out / "upstreams.conf").write_text("\n\n".join(blocks) + "\n")
    return out / "nginx.conf"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument(
        "--upstream", action="append", default=[], help="name=host:port[,host:port...]"
    )
    parser.add_argument("--access-log", default="/dev/stdout")
    parser.add_argument("--error-log", default="stderr")
    parser.add_argument("--worker-processes", default="auto")
    args = parser.parse_args()
    upstreams = {}
    for spec in args.upstream:
        name, _, servers = spec.partition("=")
        upstreams[name] = [s for s in servers.split(",") if s]
    path = render(
        args.out,
        listen=args.listen,
        upstreams=upstreams,
        access_log=args.access_log,
        error_log=args.error_log,
        worker_processes=args.worker_processes,
    )
    print(path)


if __name__ == "__main__":
    main()
