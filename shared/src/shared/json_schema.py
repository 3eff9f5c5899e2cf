"""Statements the OpenAPI document makes that pydantic's own schema leaves out."""

from __future__ import annotations

from typing import Any


def never_null(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional PATCH field that may be left out but not sent as
    null (the model refuses null): the document drops the null branch and the default."""
    options = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("default", None)
