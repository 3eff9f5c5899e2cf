"""The registry of deployable apps (deploy/services.toml), read with the stdlib only.

Everything that lists the apps derives the list from here: `make run` and `make migrate`
(scripts/stack.py, `python -m deploy.registry`), the nginx config (deploy/nginx/render.py,
also run inside the gateway's image with a bare Python), compose and Prometheus
(deploy/compose.py), the merged API document (scripts/openapi.py), the database roles and
schemas (shared.dbadmin, given them on its command line) and the test stacks. It is the
`deploy` package of the workspace's root project (`from deploy import registry`), so it
must not depend on anything outside the standard library.

    python -m deploy.registry databases    # shared.dbadmin's arguments: users orders:x ...
    python -m deploy.registry migrations   # the folders holding an alembic.ini
"""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_FILE = Path(__file__).resolve().parent / "services.toml"
NAME = re.compile(r"^[a-z][a-z0-9]*$")
NAME_OR_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# An `api` app serves part of the public API (its document and readiness join the
# gateway's); the `gateway` app merges them and is told where every api app listens.
ROLES = ("api", "gateway")
KNOWN_KEYS = {
    "name",
    "port",
    "app",
    "path",
    "prefixes",
    "exact",
    "strict_prefixes",
    "cache_anonymous_gets",
    "role",
    "database",
    "schemas",
    "redis",
    "workers",
    "compose",
}


@dataclass(frozen=True)
class Service:
    """One deployable app: a FastAPI factory run as N uvicorn replicas behind nginx."""

    name: str
    port: int
    app: str
    path: str
    prefixes: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    strict_prefixes: tuple[str, ...] = ()
    cache_anonymous_gets: bool = False
    role: str = "api"
    # A schema of its own in the shop's database, owned by its role shop_<name>, and an
    # Alembic tree (<path>/alembic.ini); `schemas` are further schemas the role owns.
    database: bool = False
    schemas: tuple[str, ...] = ()
    # Talks to Redis (events, caches, rate limits): gets <PREFIX>REDIS_URL.
    redis: bool = False
    workers: dict[str, str] = field(default_factory=dict)
    # Compose-only details: `setup` (a one-shot command run before the app), extra
    # `environment` and `volumes`.
    compose: dict[str, Any] = field(default_factory=dict)

    @property
    def env_prefix(self) -> str:
        return f"{self.name.upper()}_"

    @property
    def package(self) -> str:
        """The importable package (and uv workspace member) holding the app."""
        return self.app.partition(".")[0]

    @property
    def api(self) -> bool:
        """Its /openapi.json and /health/ready join the gateway's."""
        return self.role == "api"

    @property
    def gateway(self) -> bool:
        return self.role == "gateway"

    @property
    def has_migrations(self) -> bool:
        """Every app with a database migrates it with its own Alembic tree."""
        return self.database

    def ports(self, replicas: int) -> list[int]:
        return [self.port + i for i in range(replicas)]


def _service(raw: dict[str, object]) -> Service:
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"services.toml: unknown keys {sorted(unknown)} in {raw.get('name')}")
    name = str(raw["name"])
    if not NAME.match(name):
        raise ValueError(f"services.toml: service name {name!r} must be lowercase letters/digits")
    paths = [*raw.get("prefixes", []), *raw.get("exact", []), *raw.get("strict_prefixes", [])]  # type: ignore[misc]
    for path in paths:
        if not str(path).startswith("/"):
            raise ValueError(f"services.toml: {name}: path {path!r} must start with /")
    role = str(raw.get("role", "api"))
    if role not in ROLES:
        raise ValueError(f"services.toml: {name}: role {role!r} is none of {', '.join(ROLES)}")
    database = bool(raw.get("database", False))
    schemas = tuple(str(schema) for schema in raw.get("schemas", ()))  # type: ignore[attr-defined]
    if schemas and not database:
        raise ValueError(f"services.toml: {name}: schemas need database = true")
    for schema in (name, *schemas):
        if not NAME_OR_SNAKE.match(schema):
            raise ValueError(f"services.toml: {name}: {schema!r} is no plain schema name")
    return Service(
        name=name,
        port=int(raw["port"]),  # type: ignore[call-overload]
        app=str(raw["app"]),
        path=str(raw.get("path", f"services/{name}")),
        prefixes=tuple(raw.get("prefixes", ())),  # type: ignore[call-overload]
        exact=tuple(raw.get("exact", ())),  # type: ignore[call-overload]
        strict_prefixes=tuple(raw.get("strict_prefixes", ())),  # type: ignore[call-overload]
        cache_anonymous_gets=bool(raw.get("cache_anonymous_gets", False)),
        role=role,
        database=database,
        schemas=schemas,
        redis=bool(raw.get("redis", False)),
        workers=dict(raw.get("workers", {})),  # type: ignore[call-overload]
        compose=dict(raw.get("compose", {})),  # type: ignore[call-overload]
    )


def load(path: Path = REGISTRY_FILE) -> list[Service]:
    """Every service of the registry, in file order; refuses duplicates and overlaps."""
    data = tomllib.loads(path.read_text())
    services = [_service(raw) for raw in data.get("service", [])]
    seen_names: set[str] = set()
    seen_paths: dict[str, str] = {}
    taken_ports: dict[int, str] = {}
    for service in services:
        if service.name in seen_names:
            raise ValueError(f"services.toml: {service.name} is listed twice")
        seen_names.add(service.name)
        for route in (*service.prefixes, *service.exact, *service.strict_prefixes):
            if route in seen_paths and seen_paths[route] != service.name:
                raise ValueError(f"services.toml: {route} is routed to two services")
            seen_paths[route] = service.name
        # Replicas take consecutive ports: keep 16 free after each first port.
        for port in range(service.port, service.port + 16):
            if port in taken_ports:
                raise ValueError(
                    f"services.toml: {service.name}'s ports overlap {taken_ports[port]}'s"
                )
            taken_ports[port] = service.name
    if sum(service.gateway for service in services) > 1:
        raise ValueError('services.toml: more than one app has role = "gateway"')
    schemas = [
        s for service in services if service.database for s in (service.name, *service.schemas)
    ]
    if len(schemas) != len(set(schemas)):
        raise ValueError("services.toml: two apps claim the same database schema")
    return services


def by_name(services: list[Service]) -> dict[str, Service]:
    return {service.name: service for service in services}


def gateway_services_json(services: list[Service], urls: dict[str, list[str]]) -> str:
    """`GATEWAY_SERVICES` for the gateway app: every API service, its replicas, its paths."""
    return json.dumps(
        [
            {
                "name": s.name,
                "urls": urls[s.name],
                "prefixes": [*s.prefixes, *s.strict_prefixes],
                "exact": list(s.exact),
            }
            for s in services
            if s.api
        ]
    )


def databases(services: list[Service]) -> dict[str, tuple[str, ...]]:
    """Every app with a database -> the further schemas its role owns (shared.dbadmin)."""
    return {s.name: s.schemas for s in services if s.database}


def dbadmin_arguments(services: list[Service]) -> list[str]:
    """`python -m shared.dbadmin bootstrap`'s arguments: `name` or `name:schema,schema`."""
    return [
        ":".join([name, ",".join(schemas)]) if schemas else name
        for name, schemas in databases(services).items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.registry", description=__doc__)
    parser.add_argument("what", choices=["databases", "migrations"])
    args = parser.parse_args()
    services = load()
    if args.what == "databases":
        print(" ".join(dbadmin_arguments(services)))
    else:
        print(" ".join(s.path for s in services if s.has_migrations))


if __name__ == "__main__":
    main()
