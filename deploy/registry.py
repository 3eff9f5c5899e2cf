"""The registry of deployable apps (deploy/services.toml), read with the stdlib only.

scripts/stack.py, deploy/nginx/render.py, deploy/compose.py and the test stack import
this module by path, so it must not depend on anything outside the standard library.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_FILE = Path(__file__).resolve().parent / "services.toml"
NAME = re.compile(r"^[a-z][a-z0-9]*$")
KNOWN_KEYS = {
    "name",
    "port",
    "app",
    "path",
    "prefixes",
    "exact",
    "strict_prefixes",
    "cache_anonymous_gets",
    "api",
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
    api: bool = True
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
    def has_migrations(self) -> bool:
        return (ROOT / self.path / "alembic.ini").exists()

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
    return Service(
        name=name,
        port=int(raw["port"]),  # type: ignore[call-overload]
        app=str(raw["app"]),
        path=str(raw.get("path", f"services/{name}")),
        prefixes=tuple(raw.get("prefixes", ())),  # type: ignore[call-overload]
        exact=tuple(raw.get("exact", ())),  # type: ignore[call-overload]
        strict_prefixes=tuple(raw.get("strict_prefixes", ())),  # type: ignore[call-overload]
        cache_anonymous_gets=bool(raw.get("cache_anonymous_gets", False)),
        api=bool(raw.get("api", True)),
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
