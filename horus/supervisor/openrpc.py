"""The OpenRPC document, generated from the methods' own pydantic models so it cannot drift."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter

from horus import __version__
from horus.supervisor.errors import CODES
from horus.supervisor.rpc import Method

OPENRPC_VERSION = "1.2.6"
_REF = "#/components/schemas/{model}"
#: Errors any method can give, listed once in components rather than on every method.
COMMON_ERRORS = ("invalid_params", "unauthenticated", "forbidden", "unavailable", "internal")


def _error(reason: str, codes: dict[str, tuple[int, str]] = CODES) -> dict[str, Any]:
    code, message = codes[reason]
    return {"code": code, "message": message, "data": {"reason": reason}}


def _lift(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Move a schema's ``$defs`` into the shared components (refs already point there)."""
    components.update(schema.pop("$defs", {}))
    return schema


def method_entry(
    method: Method, components: dict[str, Any], codes: dict[str, tuple[int, str]] = CODES
) -> dict[str, Any]:
    schema = _lift(method.params.model_json_schema(ref_template=_REF), components)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        entry: dict[str, Any] = {"name": name, "required": name in required, "schema": prop}
        if "description" in prop:
            entry["description"] = prop["description"]
        params.append(entry)
    result_schema = _lift(TypeAdapter(method.result).json_schema(ref_template=_REF), components)
    if isinstance(method.result, type) and issubclass(method.result, BaseModel):
        # A model result is shared by name, like the models nested in other schemas.
        components[method.result.__name__] = result_schema
        result_schema = {"$ref": _REF.format(model=method.result.__name__)}
    return {
        "name": method.name,
        "summary": method.summary,
        "paramStructure": "either",
        "params": params,
        "result": {"name": "result", "schema": result_schema},
        "errors": [_error(reason, codes) for reason in method.errors],
        "x-role": method.role.value if method.role else None,
    }


SUPERVISOR_DESCRIPTION = "Signed jobs on Redis. Bearer tokens with roles; x-role names the role a method needs."


def document(
    methods: Iterable[Method],
    title: str = "Horus supervisor",
    description: str = SUPERVISOR_DESCRIPTION,
    codes: dict[str, tuple[int, str]] = CODES,
) -> dict[str, Any]:
    """The document for ``methods``; ``codes`` is the API's error table (the supervisor's by default)."""
    schemas: dict[str, Any] = {}
    entries = [method_entry(method, schemas, codes) for method in methods]
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": title, "version": __version__, "description": description},
        "methods": entries,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "errors": {reason: _error(reason, codes) for reason in COMMON_ERRORS},
        },
    }
