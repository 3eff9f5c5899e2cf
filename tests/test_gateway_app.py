"""The gateway app's own logic against small in-process services: the merged document
follows a service's changes, and /health is 200 only while every service is ready."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from gateway.main import create_app
from gateway.settings import GatewaySettings, Upstream
from gateway.upstreams import Upstreams


def fake_service(state: dict[str, Any]) -> FastAPI:
    """A service whose OpenAPI document and readiness the test changes through `state`."""
    app = FastAPI(openapi_url=None)

    @app.get("/openapi.json")
    async def openapi() -> dict[str, Any]:
        paths = {p: {"get": {"responses": {"200": {"description": "ok"}}}} for p in state["paths"]}
        return {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": paths}

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        ok = state["ready"]
        body: dict[str, Any] = {"checks": {"database": "ok" if ok else "error"}}
        if state.get("degraded"):  # serving without Redis, as shared.health says
            body["status"] = "degraded"
        return JSONResponse(body, 200 if ok else 503)

    return app


def upstreams_for(states: dict[str, dict[str, Any]]) -> Upstreams:
    mounts = {
        f"http://{name}.test": httpx.ASGITransport(app=fake_service(state))
        for name, state in states.items()
    }
    client = httpx.AsyncClient(mounts=mounts)  # type: ignore[arg-type]
    return Upstreams(
        services=[
            Upstream(name=name, urls=[f"http://{name}.test"], prefixes=[f"/api/{name}"])
            for name in states
        ],
        client=client,
        refresh_seconds=0,
    )


async def test_merged_document_follows_a_service_document_change() -> None:
    state = {"paths": ["/api/shelf/a/"], "ready": True}
    upstreams = upstreams_for({"shelf": state})
    first = await upstreams.merged()
    assert set(first.document["paths"]) == {"/api/shelf/a/"}
    same = await upstreams.merged()
    assert same.etag == first.etag
    state["paths"] = ["/api/shelf/a/", "/api/shelf/b/", "/internal/x"]
    changed = await upstreams.merged()
    assert set(changed.document["paths"]) == {"/api/shelf/a/", "/api/shelf/b/"}
    assert changed.etag != first.etag
    await upstreams.client.aclose()


async def test_health_is_ready_only_while_every_service_is() -> None:
    shelf, till = {"paths": [], "ready": True}, {"paths": [], "ready": True}
    upstreams = upstreams_for({"shelf": shelf, "till": till})
    ok, body = await upstreams.health()
    assert ok
    assert body["status"] == "ready"
    assert body["services"]["till"]["replicas"][0]["checks"] == {"database": "ok"}
    till["ready"] = False
    ok, body = await upstreams.health()
    assert not ok
    assert body["services"]["till"]["status"] == "unavailable"
    assert body["services"]["shelf"]["status"] == "ready"
    await upstreams.client.aclose()


async def test_a_degraded_service_keeps_the_shop_up_and_says_so() -> None:
    shelf, till = {"paths": [], "ready": True}, {"paths": [], "ready": True, "degraded": True}
    upstreams = upstreams_for({"shelf": shelf, "till": till})
    ok, body = await upstreams.health()
    assert ok
    assert body["status"] == "degraded"
    assert body["services"]["till"]["status"] == "degraded"
    assert body["services"]["shelf"]["status"] == "ready"
    await upstreams.client.aclose()


async def test_unreachable_service_makes_health_503_and_docs_still_served() -> None:
    settings = GatewaySettings(
        services=[Upstream(name="gone", urls=["http://127.0.0.1:9"], prefixes=["/api/gone"])]
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            health = await client.get("/health")
            assert health.status_code == 503
            assert health.json()["services"]["gone"] == {
                "status": "unavailable",
                "replicas": 1,
                "ready": 0,
            }
            detail = await client.get("/health/replicas")
            assert detail.status_code == 503
            gone = detail.json()["services"]["gone"]
            assert gone["replicas"][0]["status"] == "unreachable"
            document = await client.get("/openapi.json")
            assert document.status_code == 200
            assert document.json()["info"]["x-missing-services"] == ["gone"]
            assert (await client.get("/docs")).status_code == 200
            asset = await client.get("/docs/assets/swagger-init.js")
            assert asset.status_code == 200
            assert "SwaggerUIBundle" in asset.text
            metrics = (await client.get("/metrics")).text
            assert 'handler="/docs/assets",method="GET",status="200"' in metrics


async def test_public_health_is_a_cached_summary_naming_no_replica() -> None:
    till = {"paths": [], "ready": True}
    upstreams = upstreams_for({"till": till})
    upstreams.summary_seconds = 3600
    ok, body = await upstreams.summary()
    assert ok
    assert body == {
        "status": "ready",
        "services": {"till": {"status": "ready", "replicas": 1, "ready": 1}},
    }
    till["ready"] = False
    # Within the period the summary is reused: no new round of checks.
    assert await upstreams.summary() == (True, body)
    upstreams.summary_seconds = 0
    ok, body = await upstreams.summary()
    assert not ok
    assert body["services"]["till"] == {"status": "unavailable", "replicas": 1, "ready": 0}
    await upstreams.client.aclose()
