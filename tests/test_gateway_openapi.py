"""The merged document: namespaced components, public paths only, shared problem schemas,
one bearer scheme, nginx's own answers, events; valid OpenAPI 3.1.

No `from __future__ import annotations`: FastAPI must see the local `Product` classes."""

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from openapi_spec_validator import validate
from pydantic import BaseModel

from gateway.openapi import BEARER, ServiceDocument, merge
from shared.api.problems import problem_responses
from shared.events.envelope import EventCatalog, EventPayload


def service_document(name: str, *, price_type: type = str, events: Any = ()) -> dict[str, Any]:
    """A small service built like ours (problem+json errors, HTTPBearer, a Product schema)."""

    class Product(BaseModel):
        id: int
        price: price_type  # type: ignore[valid-type]

    router = APIRouter(prefix=f"/api/{name}", tags=[name])

    @router.get("/products/{product_id}/", responses=problem_responses(404))
    async def get_product(product_id: int) -> Product:
        return Product(id=product_id, price=price_type(1))

    @router.post("/products/", status_code=201, responses=problem_responses(401, 422))
    async def create_product(product: Product) -> Product:
        return product

    from shared.app import _problem_openapi  # the exact document generator of every service

    app = FastAPI(title=name)
    app.include_router(router)

    @app.get("/internal/debug")
    async def debug() -> dict[str, str]:
        return {}

    app.openapi = _problem_openapi(app, events)  # type: ignore[method-assign]
    document = app.openapi()
    document["components"]["securitySchemes"] = {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    document["paths"][f"/api/{name}/products/"]["post"]["security"] = [{"HTTPBearer": []}]
    return document


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


@pytest.fixture
def merged() -> dict[str, Any]:
    events = EventCatalog("stock")

    @events.declare(version=2)
    class StockReserved(EventPayload):
        """Stock was reserved for every line of an order."""

        order_id: int
        lines: list[dict[str, int]]

    return merge(
        [
            ServiceDocument("stock", service_document("stock", events=[events]), ["/api/stock"]),
            ServiceDocument("shop", service_document("shop", price_type=int), ["/api/shop"]),
        ]
    )


def test_merged_document_is_valid_openapi_31(merged: dict[str, Any]) -> None:
    validate(merged)
    assert merged["openapi"].startswith("3.1")
    for ref in refs(merged):
        assert resolve(merged, ref) is not None, ref


def test_same_named_schemas_of_two_services_do_not_collide(merged: dict[str, Any]) -> None:
    schemas = merged["components"]["schemas"]
    assert schemas["stock.Product"]["properties"]["price"]["type"] == "string"
    assert schemas["shop.Product"]["properties"]["price"]["type"] == "integer"
    assert "Product" not in schemas
    ok = merged["paths"]["/api/shop/products/{product_id}/"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/shop.Product")


def test_only_public_paths_are_listed(merged: dict[str, Any]) -> None:
    assert set(merged["paths"]) == {
        "/api/stock/products/",
        "/api/stock/products/{product_id}/",
        "/api/shop/products/",
        "/api/shop/products/{product_id}/",
    }


def test_problem_schemas_bearer_scheme_and_gateway_answers(merged: dict[str, Any]) -> None:
    schemas = merged["components"]["schemas"]
    assert {"Problem", "FieldError"} <= set(schemas)
    assert not any(name.endswith(".Problem") for name in schemas)
    post = merged["paths"]["/api/shop/products/"]["post"]
    assert post["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert post["security"] == [{BEARER: []}]
    assert set(merged["components"]["securitySchemes"]) == {BEARER}
    for status in ("429", "502", "503", "504"):
        assert status in post["responses"]
    too_many = merged["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in too_many["headers"]


def test_events_are_listed_with_their_schemas(merged: dict[str, Any]) -> None:
    [event] = merged["x-events"]
    assert event["type"] == "stock.StockReserved"
    assert event["version"] == 2
    schema = resolve(merged, event["schema"]["$ref"])
    assert schema["properties"]["type"]["const"] == "stock.StockReserved"
    assert "stock.StockReserved" in merged["info"]["description"]


def test_tags_are_grouped_by_service(merged: dict[str, Any]) -> None:
    assert merged["x-tagGroups"] == [
        {"name": "stock", "tags": ["stock"]},
        {"name": "shop", "tags": ["shop"]},
    ]


def test_colliding_operation_ids_get_the_service_name() -> None:
    doc = service_document("same")
    # Service b publishes the same operations (same operationIds) under other paths.
    moved = {path.replace("/api/same", "/api/other"): item for path, item in doc["paths"].items()}
    merged = merge(
        [
            ServiceDocument("a", doc, ["/api/same"]),
            ServiceDocument("b", {**doc, "paths": moved}, ["/api/other"]),
        ]
    )
    ids = {
        path: op["operationId"]
        for path, item in merged["paths"].items()
        for method, op in item.items()
        if method == "get"
    }
    original = ids["/api/same/products/{product_id}/"]
    assert ids["/api/other/products/{product_id}/"] == f"b-{original}"
    every = [op["operationId"] for item in merged["paths"].values() for op in item.values()]
    assert len(every) == len(set(every)) == 4
    with pytest.raises(ValueError, match="published by two services"):
        merge([ServiceDocument("a", doc, ["/api/same"]), ServiceDocument("b", doc, ["/api/same"])])


def bounds(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("maximum", "minimum")]
        return found + [b for v in node.values() for b in bounds(v)]
    if isinstance(node, list):
        return [b for v in node for b in bounds(v)]
    return []


@pytest.mark.parametrize("package", ["users", "catalog", "orders", "payments"])
def test_id_bounds_are_the_exact_bigint_range(
    package: str, jwt_private_key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI keeps bounds as floats, and 2**63 - 1 became 2.0**63, one more than any id
    the models accept: a client trusting the document would be refused."""
    import importlib

    # The users app loads its signing key at creation: the session's key, not var/keys.
    monkeypatch.setenv("USERS_JWT_PRIVATE_KEY_FILE", str(jwt_private_key_file))
    document = importlib.import_module(f"{package}.main").create_app().openapi()
    found = bounds(document)
    assert 2**63 - 1 in found
    assert not [b for b in found if isinstance(b, float) and abs(b) >= 2**53]
