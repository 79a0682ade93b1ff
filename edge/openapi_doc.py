"""The OpenAPI 3.1 description of typed routes (`edge.typed_routes`), read from the handlers' signatures.

What the lane's tablet serves at ``/openapi.json`` to a signed-in inspector, and what the fuzz tests
(schemathesis) generate requests from: the same types that check the requests describe them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from edge.typed_routes import Param, Source, TypedRoute

# FastAPI's description of a 422, which `BadInput` answers keep (clients written against it go on working)
_VALIDATION_SCHEMAS: dict[str, Any] = {
    "ValidationError": {
        "title": "ValidationError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {"title": "Detail", "type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    },
}
_REF = "#/components/schemas/{model}"


def _parameter(p: Param) -> dict[str, Any]:
    assert p.adapter is not None
    schema = p.adapter.json_schema(ref_template=_REF)
    if not p.required:
        schema["default"] = p.default
    out = {"name": p.name, "in": p.source.value, "required": p.required, "schema": schema}
    if "description" in schema:
        out["description"] = schema["description"]
    return out


def _operation(route: TypedRoute, method: str) -> dict[str, Any]:
    doc = inspect.getdoc(route.handler) or ""
    op: dict[str, Any] = {
        "operationId": f"{route.handler.__name__}_{method.lower()}",
        "summary": route.handler.__name__.replace("_", " ").capitalize(),
    }
    if doc:
        op["description"] = doc
    inputs = [_parameter(p) for p in route.params if p.source in (Source.PATH, Source.QUERY)]
    if inputs:
        op["parameters"] = inputs
    body = next((p.model for p in route.params if p.model is not None), None)
    if body is not None:
        ref = {"$ref": _REF.format(model=body.__name__)}
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    kind = "text/html" if route.html else "application/json"
    op["responses"] = {"200": {"description": "Successful Response", "content": {kind: {"schema": {}}}}}
    if inputs or body is not None:
        invalid = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
        op["responses"]["422"] = {"description": "Validation Error", "content": invalid}
    return op | route.openapi_extra


def openapi_document(title: str, version: str, routes: Iterable[Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every `TypedRoute` in ``routes`` that is in the schema."""
    described = [r for r in routes if isinstance(r, TypedRoute) and r.include_in_schema]
    paths: dict[str, dict[str, Any]] = {}
    for route in described:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(route, method)
    models = {p.model for r in described for p in r.params if p.model is not None}
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=_REF
    )
    schemas = {**defs.get("$defs", {}), **_VALIDATION_SCHEMAS}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
