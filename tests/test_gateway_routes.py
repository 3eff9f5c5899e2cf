"""The gateway as partners and SPAs see it: routing by path for every registered service,
the merged OpenAPI document, local docs, shop-wide health, CORS, gzip."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.conftest import SPA_ORIGIN, Stack


def public_routes(stack: Stack) -> list[tuple[str, str]]:
    """(a path under each public prefix or exact path, the service it belongs to)."""
    routes = []
    for service in stack.services:
        routes += [(path, service.name) for path in service.exact]
        routes += [(f"{p}/__probe__", service.name) for p in service.prefixes]
        routes += [(f"{p}/__probe__", service.name) for p in service.strict_prefixes]
    return routes


def test_every_public_path_prefix_reaches_its_service(gateway: httpx.Client, stack: Stack) -> None:
    routes = public_routes(stack)
    assert {service for _, service in routes} == {s.name for s in stack.services}
    for path, service in routes:
        response = gateway.get(path)
        served_by = response.headers.get("x-served-by", "")
        assert served_by.startswith(f"{service}-"), (path, response.status_code, served_by)


def test_internal_endpoints_stay_inside(gateway: httpx.Client) -> None:
    for path in ("/metrics", "/health/ready", "/health/live", "/docs/../metrics"):
        response = gateway.get(path)
        assert response.status_code == 404, path
        assert "x-served-by" not in response.headers


def service_documents(stack: Stack) -> dict[str, dict[str, Any]]:
    documents = {}
    for service in stack.services:
        if service.api:
            replica = stack.replicas[service.name][0]
            documents[service.name] = httpx.get(f"{replica.url}/openapi.json").json()
    return documents


def test_merged_openapi_is_valid_and_lists_every_public_path(
    gateway: httpx.Client, stack: Stack
) -> None:
    response = gateway.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["x-served-by"].startswith("gateway-")
    merged = response.json()
    validate(merged)
    assert merged["openapi"] == "3.1.0"
    for service in stack.services:
        if not service.api:
            continue
        own = service_documents(stack)[service.name]
        prefixes = (*service.prefixes, *service.strict_prefixes)
        public = {p for p in own["paths"] if p in service.exact or p.startswith(prefixes)}
        assert public, f"{service.name} publishes no public path"
        assert public <= set(merged["paths"]), public - set(merged["paths"])
        for prefix in service.prefixes:
            assert any(p.startswith(prefix) for p in merged["paths"]), prefix
    assert merged["paths"]["/api/users/me/"]["get"]["security"] == [{"bearerAuth": []}]
    assert "users.UserOut" in merged["components"]["schemas"]
    assert "/health/ready" not in merged["paths"]


def test_merged_openapi_revalidates_with_its_etag(gateway: httpx.Client) -> None:
    first = gateway.get("/openapi.json")
    again = gateway.get("/openapi.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


DOC_PAGES = ("/docs", "/redoc")


@pytest.mark.parametrize("page", DOC_PAGES)
def test_docs_pages_load_every_asset_from_the_gateway(gateway: httpx.Client, page: str) -> None:
    response = gateway.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "http" not in csp
    html = response.text
    assets = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset
        assert not asset.startswith("//"), asset
        loaded = gateway.get(asset)
        assert loaded.status_code == 200, asset
    assert "cdn" not in html.lower()


def test_docs_assets_are_gzipped(gateway: httpx.Client) -> None:
    response = gateway.get("/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"


def test_health_reports_every_service(gateway: httpx.Client, stack: Stack) -> None:
    response = gateway.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    api_services = {s.name for s in stack.services if s.api}
    assert set(body["services"]) == api_services
    for name in api_services:
        # A summary: counts, no replica addresses (docs/security.md).
        assert body["services"][name] == {
            "status": "ready",
            "replicas": len(stack.replicas[name]),
            "ready": len(stack.replicas[name]),
        }


def test_cors_preflight_and_answers_for_the_spa_origin_only(gateway: httpx.Client) -> None:
    preflight = gateway.options(
        "/api/auth/login/",
        headers={
            "Origin": SPA_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    answer = gateway.get("/api/users/me/", headers={"Origin": SPA_ORIGIN})
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == SPA_ORIGIN
    assert "X-Request-ID" in answer.headers["access-control-expose-headers"]
    stranger = gateway.get("/api/users/me/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers
    stranger_preflight = gateway.options(
        "/api/auth/login/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in stranger_preflight.headers
