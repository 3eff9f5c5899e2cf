"""Merge every service's OpenAPI document into the one partners read (pure functions).

- paths are kept as the public sees them (nginx routes by prefix without rewriting) and
  only those under a service's public prefixes are kept;
- components are namespaced per service (`catalog.Product`, `orders.Product`), except the
  problem+json schemas, which every service shares and which appear once as `Problem`;
- every bearer scheme becomes the one `bearerAuth` scheme;
- the answers nginx itself gives (429, 502, 503, 504) are documented on every operation;
- events a service declares (`x-events` in its document) are listed as JSON Schemas
  under `components.schemas` (`<producer>.events.<Name>.v<N>`) and in `x-events`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.api.problems import PROBLEM_MEDIA_TYPE, Problem

OPENAPI_VERSION = "3.1.0"
BEARER = "bearerAuth"
SHARED_SCHEMAS = ("Problem", "FieldError")
COMPONENT_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "links",
    "callbacks",
    "pathItems",
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REF = re.compile(r"^#/components/(?P<kind>\w+)/(?P<name>.+)$")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

# Answers nginx gives on its own, documented on every operation.
GATEWAY_RESPONSES: dict[str, tuple[str, str]] = {
    "429": ("TooManyRequests", "Rate limit exceeded; retry after `Retry-After` seconds."),
    "502": ("BadGateway", "The service behind this path is not answering."),
    "503": ("ServiceUnavailable", "The service is unavailable; try again shortly."),
    "504": ("GatewayTimeout", "The service did not answer in time."),
}


@dataclass(frozen=True)
class ServiceDocument:
    """One service's own OpenAPI document and the public paths nginx routes to it."""

    service: str
    document: Mapping[str, Any]
    prefixes: Sequence[str] = ()
    exact: Sequence[str] = ()

    def is_public(self, path: str) -> bool:
        return path in self.exact or any(
            path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.prefixes
        )


def _component_name(service: str, name: str) -> str:
    return f"{service}.{SAFE_NAME.sub('_', name)}"


def _rewrite_refs(node: Any, rename: Mapping[str, str]) -> Any:
    """A copy of `node` with every `$ref` to a component renamed through `rename`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in rename:
                out[key] = rename[value]
            else:
                out[key] = _rewrite_refs(value, rename)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, rename) for item in node]
    return node


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "Problem": schema}


def _problem_response(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def _bearer_names(document: Mapping[str, Any]) -> set[str]:
    schemes = document.get("components", {}).get("securitySchemes", {})
    return {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer"
    }


def _merge_security(operation: dict[str, Any], bearer_names: set[str]) -> None:
    if "security" not in operation:
        return
    operation["security"] = [
        {(BEARER if name in bearer_names else name): scopes for name, scopes in req.items()}
        for req in operation["security"]
    ]


def _event_components(
    events: Iterable[Mapping[str, Any]], schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    """Hoist each event's JSON Schema (and its `$defs`) into `schemas`; list them."""
    listed = []
    for event in events:
        producer = str(event.get("producer") or str(event["type"]).partition(".")[0])
        short = str(event["type"]).removeprefix(f"{producer}.")
        name = _component_name(producer, f"events.{short}.v{event['version']}")
        schema = copy.deepcopy(dict(event["schema"]))
        schema.pop("$schema", None)
        defs = schema.pop("$defs", {})
        rename = {
            f"#/$defs/{key}": f"#/components/schemas/{_component_name(producer, f'events.{key}')}"
            for key in defs
        }
        for key, definition in defs.items():
            schemas[_component_name(producer, f"events.{key}")] = _rewrite_refs(definition, rename)
        schemas[name] = _rewrite_refs(schema, rename)
        listed.append(
            {
                "type": event["type"],
                "version": event["version"],
                "producer": producer,
                "stream": f"{producer}.events",
                "schema": {"$ref": f"#/components/schemas/{name}"},
            }
        )
    return listed


def merge(
    documents: Sequence[ServiceDocument],
    *,
    title: str = "Highload Shop API",
    version: str = "1.0.0",
    description: str = "",
) -> dict[str, Any]:
    """One OpenAPI 3.1 document from every service's, as served by the gateway."""
    schemas: dict[str, Any] = _problem_schemas()
    components: dict[str, dict[str, Any]] = {"schemas": schemas}
    paths: dict[str, Any] = {}
    tags: dict[str, dict[str, Any]] = {}
    tag_groups: list[dict[str, Any]] = []
    operation_ids: set[str] = set()
    events: list[dict[str, Any]] = []

    for source in documents:
        document = source.document
        service = source.service
        rename: dict[str, str] = {}
        own = document.get("components", {})
        for kind in COMPONENT_KINDS:
            for name in own.get(kind, {}):
                if kind == "schemas" and name in SHARED_SCHEMAS:
                    rename[f"#/components/{kind}/{name}"] = f"#/components/schemas/{name}"
                else:
                    new = _component_name(service, name)
                    rename[f"#/components/{kind}/{name}"] = f"#/components/{kind}/{new}"
        for kind in COMPONENT_KINDS:
            for name, value in own.get(kind, {}).items():
                if kind == "schemas" and name in SHARED_SCHEMAS:
                    continue
                components.setdefault(kind, {})[_component_name(service, name)] = _rewrite_refs(
                    value, rename
                )

        bearer_names = _bearer_names(document)
        service_tags: list[str] = []
        for path, item in document.get("paths", {}).items():
            if not source.is_public(path):
                continue
            if path in paths:
                raise ValueError(f"{path} is published by two services")
            item = _rewrite_refs(item, rename)
            for method in HTTP_METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                _merge_security(operation, bearer_names)
                op_id = operation.get("operationId")
                if op_id and op_id in operation_ids:
                    op_id = operation["operationId"] = f"{service}-{op_id}"
                if op_id:
                    operation_ids.add(op_id)
                responses = operation.setdefault("responses", {})
                for status, (response_name, _) in GATEWAY_RESPONSES.items():
                    responses.setdefault(
                        status, {"$ref": f"#/components/responses/{response_name}"}
                    )
                for tag in operation.get("tags", []):
                    if tag not in tags:
                        tags[tag] = {"name": tag, "x-service": service}
                        service_tags.append(tag)
            paths[path] = item
        for tag in document.get("tags", []):
            if tag.get("name") in tags:
                tags[tag["name"]].update({k: v for k, v in tag.items() if k != "name"})
        if service_tags:
            tag_groups.append({"name": service, "tags": service_tags})
        events += _event_components(document.get("x-events", []), schemas)

    responses = components.setdefault("responses", {})
    for status, (response_name, text) in GATEWAY_RESPONSES.items():
        responses[response_name] = _problem_response(text, retry_after=status == "429")
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Access token from `POST /api/auth/login/` (RS256; keys at "
            "`/.well-known/jwks.json`).",
        }
    }
    if events:
        rows = "\n".join(
            f"| `{e['type']}` | {e['version']} | `{e['stream']}` | "
            f"`{e['schema']['$ref'].rsplit('/', 1)[1]}` |"
            for e in events
        )
        description += (
            "\n\n## Events\n\nServices publish these events on Redis Streams (at least "
            "once; consumers deduplicate by `event_id`). Their JSON Schemas are listed under "
            "`components.schemas` and in `x-events`.\n\n"
            "| type | version | stream | schema |\n|---|---|---|---|\n" + rows
        )
    merged: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description.strip()},
        "servers": [{"url": "/", "description": "this gateway"}],
        "paths": dict(sorted(paths.items())),
        "components": {kind: dict(sorted(value.items())) for kind, value in components.items()},
        "tags": list(tags.values()),
        "x-tagGroups": tag_groups,
        "x-events": events,
    }
    return merged
