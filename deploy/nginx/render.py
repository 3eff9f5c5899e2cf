"""Render the gateway's nginx config for one environment (stdlib only).

    python -m deploy.nginx.render --out var/nginx --listen 127.0.0.1:8080 \
        --upstream users=127.0.0.1:8100,127.0.0.1:8101 --upstream gateway=127.0.0.1:8500
    python -m deploy.nginx.render --compose --out /etc/nginx/shop     # Docker DNS

The locations come from deploy/services.toml (one per public prefix of each service);
every file in this folder ending in .conf or .template is copied to --out with its
`{{ name }}` placeholders filled; `upstreams.conf` and `locations.conf` are generated.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy import registry

HERE = Path(__file__).resolve().parent

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
RATE = re.compile(r"^(\d+)r/([sm])$")
# Inside compose every replica of a service listens on this port (see deploy/compose.py).
COMPOSE_PORT = 8000
# nginx keeps an idle upstream connection this long; a replica must keep it longer, so
# that nginx is always the side that closes it. A replica that closes first (uvicorn's
# default is 5 s) races the next request nginx sends on it: the request meets a reset
# and, for a POST, which nginx never sends twice, ends as a 502 (four such resets in one
# flash sale on a busy machine, a placement and a payment among them; docs/checkout.md).
UPSTREAM_KEEPALIVE_SECONDS = 60
REPLICA_KEEP_ALIVE_SECONDS = UPSTREAM_KEEPALIVE_SECONDS + 5
DOCKER_DNS = "127.0.0.11"


@dataclass
class Limits:
    """Rate limits per client address: strict for login/registration, generous elsewhere."""

    auth_rate: str = "10r/m"
    auth_burst: int = 5
    api_rate: str = "100r/s"
    api_burst: int = 200

    @staticmethod
    def refill_seconds(rate: str) -> int:
        match = RATE.match(rate)
        if not match:
            raise SystemExit(f"render.py: a rate looks like 10r/s or 10r/m, not {rate!r}")
        per_second = int(match.group(1)) / (60 if match.group(2) == "m" else 1)
        return max(1, round(1 / per_second))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        """The limits of GATEWAY_AUTH_RATE, _AUTH_BURST, _API_RATE, _API_BURST (unset or
        empty: the defaults), checked, so a typo stops the render instead of nginx."""
        env = dict(os.environ) if env is None else env
        limits = cls()
        for name in ("auth_rate", "auth_burst", "api_rate", "api_burst"):
            value = env.get(f"GATEWAY_{name.upper()}", "").strip()
            if not value:
                continue
            if name.endswith("_rate"):
                cls.refill_seconds(value)
                setattr(limits, name, value)
            elif value.isdigit():
                setattr(limits, name, int(value))
            else:
                raise SystemExit(f"render.py: GATEWAY_{name.upper()} must be a whole number")
        return limits


@dataclass
class Options:
    listen: str = "127.0.0.1:8080"
    # A path, or `off`. With a buffer (e.g. 256k) nginx writes the file in chunks, at
    # least every second, instead of one write per request.
    access_log: str = "/dev/stdout"
    access_log_buffer: str = ""
    error_log: str = "stderr"
    worker_processes: str = "auto"
    max_body_size: str = "1m"
    limits: Limits = field(default_factory=Limits)
    cors_origins: Sequence[str] = ()
    # Set (Docker's 127.0.0.11) to re-resolve upstream host names: needs nginx >= 1.27.3.
    resolver: str | None = None
    # The public host names; any other Host gets a 421 (loopback is always served, for
    # health checks).
    server_names: Sequence[str] = ()
    # Proxies (addresses or CIDRs) in front of nginx whose X-Forwarded-For is believed.
    trusted_proxies: Sequence[str] = ()
    # Concurrent long polls (requests with `wait`) per client address.
    long_poll_connections: int = 10
    # A loopback address for stub_status (the nginx exporter reads it), or None.
    status_listen: str | None = None
    # The built storefront SPA (storefront/dist) served at `/`; None: `/` answers 404.
    storefront_root: str | None = None


def status_server(listen: str | None) -> str:
    """stub_status on a listen of its own: the public server never routes to it."""
    if not listen:
        return ""
    return (
        f"    server {{\n        listen {listen};\n        access_log off;\n"
        "        location = /stub_status { stub_status; }\n"
        "        location / { return 404; }\n    }\n"
    )


def upstream_block(name: str, servers: Sequence[str], *, resolve: bool) -> str:
    lines = [f"upstream {name} {{", "    least_conn;", f"    zone {name} 256k;"]
    # Passive health checks: 3 failures within 10 s take a replica out for 10 s.
    extra = " resolve" if resolve else ""
    lines += [f"    server {server} max_fails=3 fail_timeout=10s{extra};" for server in servers]
    lines += [
        "    keepalive 64;",
        "    keepalive_requests 10000;",
        f"    keepalive_timeout {UPSTREAM_KEEPALIVE_SECONDS}s;",
        "}",
    ]
    return "\n".join(lines)


def location_block(
    match: str, service: registry.Service, limits: Limits, conf_dir: Path, *, strict: bool
) -> str:
    retry_after = Limits.refill_seconds(limits.auth_rate if strict else limits.api_rate)
    lines = [
        f"location {match} {{",
        f"    include {conf_dir}/proxy.conf;",
        f"    include {conf_dir}/security_headers.conf;",
        f"    include {conf_dir}/cors_preflight.conf;",
        f"    set $retry_after {retry_after};",
    ]
    if strict:
        lines += [
            f"    limit_req zone=api burst={limits.api_burst} nodelay;",
            f"    limit_req zone=auth burst={limits.auth_burst} nodelay;",
        ]
    if service.cache_anonymous_gets:
        lines.append(f"    include {conf_dir}/microcache.conf;")
    lines += [f"    proxy_pass http://{service.name};", "}"]
    return "\n".join(lines)


def locations(services: Sequence[registry.Service], limits: Limits, conf_dir: Path) -> str:
    blocks = []
    for service in services:
        blocks.append(f"# {service.name}")
        for path in service.exact:
            blocks.append(location_block(f"= {path}", service, limits, conf_dir, strict=False))
        for path in service.prefixes:
            blocks.append(location_block(path, service, limits, conf_dir, strict=False))
        for path in service.strict_prefixes:
            blocks.append(location_block(path, service, limits, conf_dir, strict=True))
    return "\n\n".join(blocks) + "\n"


def access_log(options: Options) -> str:
    """The arguments of nginx's `access_log` directive."""
    if options.access_log == "off":
        return "off"
    buffer = f" buffer={options.access_log_buffer} flush=1s" if options.access_log_buffer else ""
    return f"{options.access_log} json{buffer}"


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
    services: Sequence[registry.Service],
    upstreams: dict[str, list[str]],
    options: Options | None = None,
) -> Path:
    """Write nginx.conf and its includes to `out`; `upstreams` maps service -> servers."""
    options = options or Options()
    missing = [s.name for s in services if not upstreams.get(s.name)]
    if missing:
        raise SystemExit(f"render.py: no upstream servers for {', '.join(missing)}")
    out = out.resolve()
    run_dir = out / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    limits = options.limits
    origins = "\n".join(
        f'        "{origin}" $http_origin;' for origin in options.cors_origins if origin
    )
    resolver = (
        f"    resolver {options.resolver} valid=5s ipv6=off;\n    resolver_timeout 2s;\n"
        if options.resolver
        else ""
    )
    names = [*dict.fromkeys([*options.server_names, "localhost", "127.0.0.1"])]
    real_ip = "".join(f"    set_real_ip_from {proxy};\n" for proxy in options.trusted_proxies)
    if real_ip:
        real_ip += "    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n"
    values = {
        "conf_dir": str(out),
        "server_names": " ".join(names),
        "real_ip": real_ip,
        "long_poll_connections": str(options.long_poll_connections),
        "run_dir": str(run_dir),
        "listen": options.listen,
        "access_log": access_log(options),
        "error_log": options.error_log,
        "worker_processes": options.worker_processes,
        "max_body_size": options.max_body_size,
        "auth_rate": limits.auth_rate,
        "api_rate": limits.api_rate,
        "api_burst": str(limits.api_burst),
        "api_retry_after": str(Limits.refill_seconds(limits.api_rate)),
        "cors_origins": origins,
        "resolver": resolver,
        "status_server": status_server(options.status_listen),
    }
    for source in sorted(HERE.iterdir()):
        if source.suffix in (".conf", ".template"):
            target = out / source.name.removesuffix(".template")
            target.write_text(fill(source.read_text(), values))
    blocks = [
        upstream_block(s.name, upstreams[s.name], resolve=options.resolver is not None)
        for s in services
    ]
    (out / "upstreams.conf").write_text("\n\n".join(blocks) + "\n")
    (out / "locations.conf").write_text(locations(services, limits, out))
    (out / "storefront.conf").write_text(storefront(options.storefront_root, out))
    return out / "nginx.conf"


def storefront(root: str | None, out: Path) -> str:
    """The SPA's locations (deploy/nginx/storefront/), or a 404 for `/` without one."""
    if root is None:
        return "location / {\n    return 404;\n}\n"
    values = {"conf_dir": str(out), "storefront_root": str(Path(root).resolve())}
    (out / "storefront_headers.conf").write_text(
        (HERE / "storefront" / "storefront_headers.conf").read_text()
    )
    return fill((HERE / "storefront" / "storefront.conf").read_text(), values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--registry", type=Path, default=registry.REGISTRY_FILE)
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument(
        "--upstream", action="append", default=[], help="name=host:port[,host:port...]"
    )
    parser.add_argument(
        "--compose",
        action="store_true",
        help=f"upstreams <service>:{COMPOSE_PORT}, re-resolved through Docker's DNS",
    )
    parser.add_argument("--access-log", default="/dev/stdout", help="a path, or off")
    parser.add_argument("--access-log-buffer", default="", help="e.g. 256k (files only)")
    parser.add_argument("--status-listen", help="loopback address for nginx's stub_status")
    parser.add_argument("--error-log", default="stderr")
    parser.add_argument("--worker-processes", default="auto")
    # Defaults from GATEWAY_AUTH_RATE etc. (`make run`, the compose image's build args).
    env_limits = Limits.from_env()
    parser.add_argument("--auth-rate", default=env_limits.auth_rate)
    parser.add_argument("--auth-burst", type=int, default=env_limits.auth_burst)
    parser.add_argument("--api-rate", default=env_limits.api_rate)
    parser.add_argument("--api-burst", type=int, default=env_limits.api_burst)
    parser.add_argument(
        "--cors-origin", action="append", default=[], help="an SPA origin allowed by CORS"
    )
    parser.add_argument(
        "--server-name", action="append", default=[], help="a public host name (comma lists)"
    )
    parser.add_argument(
        "--trusted-proxy", action="append", default=[], help="address/CIDR of a proxy in front"
    )
    # GATEWAY_LONG_POLL_CONNECTIONS: a load test's many buyers poll from one address.
    long_polls = os.environ.get("GATEWAY_LONG_POLL_CONNECTIONS", "").strip() or "10"
    if not long_polls.isdigit() or int(long_polls) < 1:
        raise SystemExit("render.py: GATEWAY_LONG_POLL_CONNECTIONS must be a whole number >= 1")
    parser.add_argument("--long-poll-connections", type=int, default=int(long_polls))
    parser.add_argument("--storefront-root", help="serve this built SPA at / (storefront/dist)")
    args = parser.parse_args()
    services = registry.load(args.registry)
    upstreams: dict[str, list[str]] = {}
    resolver = None
    if args.compose:
        upstreams = {s.name: [f"{s.name}:{COMPOSE_PORT}"] for s in services}
        resolver = DOCKER_DNS
    for spec in args.upstream:
        name, _, servers = spec.partition("=")
        upstreams[name] = [s for s in servers.split(",") if s]
    path = render(
        args.out,
        services=services,
        upstreams=upstreams,
        options=Options(
            listen=args.listen,
            access_log=args.access_log,
            access_log_buffer=args.access_log_buffer,
            error_log=args.error_log,
            worker_processes=args.worker_processes,
            limits=Limits(args.auth_rate, args.auth_burst, args.api_rate, args.api_burst),
            cors_origins=[o for value in args.cors_origin for o in value.split(",") if o],
            resolver=resolver,
            server_names=[n for value in args.server_name for n in value.replace(",", " ").split()],
            trusted_proxies=[p for value in args.trusted_proxy for p in value.split(",") if p],
            long_poll_connections=args.long_poll_connections,
            status_listen=args.status_listen,
            storefront_root=args.storefront_root,
        ),
    )
    print(path)


if __name__ == "__main__":
    main()
