"""The OpenAPI description and a readable API reference, for signed-in users with a role (not public).

The reference page is rendered on the server from the OpenAPI document: no
Swagger UI or ReDoc bundle from a CDN, no script, so the page keeps the same
Content-Security-Policy as the rest of the dashboard. `/redoc` shows the same page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import ROUTE_PERMS, PageOf, declare

router = APIRouter()
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "enum")


def _schema_text(schema: dict[str, Any]) -> str:
    """A parameter's type and declared bounds in one line, e.g. `integer, minimum 0, maximum 9007199254740992`."""
    options = schema.get("anyOf") or [schema]
    parts = []
    for s in options:
        kind = s.get("type") or s.get("$ref", "").rsplit("/", 1)[-1] or "any"
        bounds = [f"{k} {s[k]}" for k in BOUNDS if k in s]
        parts.append(", ".join([kind, *bounds]))
    return " | ".join(parts)


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the OpenAPI document with its permission, parameters and request body, in path order."""
    out = []
    for path, methods in sorted(spec.get("paths", {}).items()):
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "perm": str(ROUTE_PERMS.get((method.upper(), path), "")),
                    "params": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "schema": _schema_text(p.get("schema", {})),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": [f"{ctype}: {_schema_text(c.get('schema', {}))}" for ctype, c in body.items()],
                }
            )
    return out


@declare(router, "GET", "/openapi.json", Perm.STATS, include_in_schema=False)
def openapi_json(request: Request) -> dict[str, Any]:
    return request.app.openapi()


def _reference(request: Request, page: PageOf) -> HTMLResponse:
    spec = request.app.openapi()
    return page.render(
        "api_docs.html",
        ops=operations(spec),
        schemas=sorted(spec.get("components", {}).get("schemas", {}).items()),
        schema_text=_schema_text,
    )


@declare(router, "GET", "/docs", Perm.STATS, page=True, response_class=HTMLResponse, include_in_schema=False)
def docs_page(request: Request, page: PageOf) -> HTMLResponse:
    return _reference(request, page)


@declare(router, "GET", "/redoc", Perm.STATS, page=True, response_class=HTMLResponse, include_in_schema=False)
def redoc_page(request: Request, page: PageOf) -> HTMLResponse:
    return _reference(request, page)
