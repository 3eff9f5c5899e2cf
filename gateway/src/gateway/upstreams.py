"""Talking to the services: their OpenAPI documents and their readiness, per replica."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from gateway.openapi import ServiceDocument, merge
from gateway.settings import Upstream

log = logging.getLogger(__name__)


async def replica_urls(base_url: str) -> list[str]:
    """One URL per address the host resolves to (Docker DNS answers every replica)."""
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=socket.AF_INET
        )
    except OSError:
        return [base_url]  # reported as unreachable by the caller
    addresses = sorted({str(info[4][0]) for info in infos})
    if addresses == [host]:
        return [base_url]
    return [urlunsplit(parts._replace(netloc=f"{address}:{port}")) for address in addresses]


@dataclass
class MergedDocument:
    document: dict[str, Any]
    etag: str
    built_at: float
    sources: dict[str, str]  # service -> hash of the document it was built from


@dataclass
class Upstreams:
    """Fetches documents and readiness from every service's replicas."""

    services: Sequence[Upstream]
    client: httpx.AsyncClient
    refresh_seconds: float = 10.0
    description: str = ""
    _merged: MergedDocument | None = None
    # The public summary is reused this long: a flood of GET /health costs one round of
    # readiness checks per period, not one per request and replica.
    summary_seconds: float = 2.0
    _documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _summary: tuple[float, bool, dict[str, Any]] | None = None
    _summary_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _fetch_document(self, upstream: Upstream) -> dict[str, Any] | None:
        for base in upstream.urls:
            for url in await replica_urls(base):
                try:
                    response = await self.client.get(f"{url.rstrip('/')}/openapi.json")
                    if response.status_code == 200:
                        document: dict[str, Any] = response.json()
                        return document
                except (httpx.HTTPError, ValueError) as exc:
                    log.warning("openapi of %s at %s: %s", upstream.name, url, exc)
        return None

    async def merged(self) -> MergedDocument:
        """The merged document, rebuilt when older than `refresh_seconds` and changed."""
        async with self._lock:
            now = time.monotonic()
            if self._merged is not None and now - self._merged.built_at < self.refresh_seconds:
                return self._merged
            fetched = await asyncio.gather(*(self._fetch_document(u) for u in self.services))
            for upstream, document in zip(self.services, fetched, strict=True):
                if document is not None:
                    self._documents[upstream.name] = document
                # A service that is down keeps its last known document.
            sources = {
                name: hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
                for name, doc in self._documents.items()
            }
            if self._merged is not None and self._merged.sources == sources:
                self._merged.built_at = now
                return self._merged
            document = merge(
                [
                    ServiceDocument(
                        service=u.name,
                        document=self._documents[u.name],
                        prefixes=u.prefixes,
                        exact=u.exact,
                    )
                    for u in self.services
                    if u.name in self._documents
                ],
                description=self.description,
            )
            missing = [u.name for u in self.services if u.name not in self._documents]
            if missing:
                document["info"]["x-missing-services"] = missing
            body = json.dumps(document, sort_keys=True).encode()
            self._merged = MergedDocument(
                document=document,
                etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
                built_at=now,
                sources=sources,
            )
            if missing:
                # Try again on the next request rather than after the refresh period.
                self._merged.built_at = now - self.refresh_seconds
            return self._merged

    async def _replica_ready(self, url: str) -> dict[str, Any]:
        try:
            response = await self.client.get(f"{url.rstrip('/')}/health/ready")
        except httpx.HTTPError as exc:
            return {"url": url, "status": "unreachable", "error": type(exc).__name__}
        try:
            body = response.json()
        except ValueError:
            body = {}
        # A replica without Redis answers 200 "degraded": it serves, from PostgreSQL.
        status = body.get("status", "ready") if response.status_code == 200 else "unavailable"
        return {"url": url, "status": status, "checks": body.get("checks", {})}

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Every replica's readiness; a service is ready when one of its replicas is."""

        async def one(upstream: Upstream) -> tuple[str, dict[str, Any]]:
            urls = [url for base in upstream.urls for url in await replica_urls(base)]
            replicas = await asyncio.gather(*(self._replica_ready(url) for url in urls))
            ready = sum(r["status"] == "ready" for r in replicas)
            serving = sum(r["status"] in ("ready", "degraded") for r in replicas)
            if ready == len(replicas):
                status = "ready"
            elif serving:
                status = "degraded"
            else:
                status = "unavailable"
            return upstream.name, {"status": status, "replicas": list(replicas)}

        services = dict(await asyncio.gather(*(one(u) for u in self.services)))
        ok = all(s["status"] != "unavailable" for s in services.values())
        whole = all(s["status"] == "ready" for s in services.values())
        status = "ready" if whole else "degraded" if ok else "unavailable"
        return ok, {"status": status, "services": services}

    async def summary(self) -> tuple[bool, dict[str, Any]]:
        """The public view of `health()`: status and replica counts per service, no
        addresses or check details, computed at most once per `summary_seconds`."""
        async with self._summary_lock:
            now = time.monotonic()
            if self._summary is not None and now - self._summary[0] < self.summary_seconds:
                return self._summary[1], self._summary[2]
            ok, detail = await self.health()
            services = {
                name: {
                    "status": service["status"],
                    "replicas": len(service["replicas"]),
                    "ready": sum(r["status"] == "ready" for r in service["replicas"]),
                }
                for name, service in detail["services"].items()
            }
            body = {"status": detail["status"], "services": services}
            self._summary = (now, ok, body)
            return ok, body
