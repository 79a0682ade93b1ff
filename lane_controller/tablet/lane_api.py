"""The lane as a whole: health for a monitor, the overview, alerts, and the API description for signed-in inspectors."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from edge.openapi_doc import openapi_document
from edge.typed_routes import Router
from lane_controller.tablet.bodies import AlertKey
from lane_controller.tablet.deps import Actor, LaneDep

router = Router()


@router.get("/api/health")
async def health(lane: LaneDep) -> dict[str, Any]:
    """Public, for a monitor: is the lane up, linked to the cloud, keeping up with its outbox (no process details)."""
    ov = lane.overview()
    return {
        "ok": True,
        "unit": ov["unit"],
        "cloud_connected": ov["cloud_connected"],
        "outbox": ov["outbox"],
        "open_cases": len(lane.cases),
        "alerts": len(ov["alerts"]),
        "step_ms": ov["step_ms"],
    }


@router.get("/api/lane")
async def lane_overview(lane: LaneDep, _: Actor) -> dict[str, Any]:
    return lane.overview()


@router.post("/api/alerts/{key}/dismiss")
async def dismiss(key: AlertKey, lane: LaneDep, _: Actor) -> dict[str, Any]:
    lane.clear_alert(key)
    return {"ok": True}


@router.get("/openapi.json", include_in_schema=False)
async def api_description(request: Request, _: Actor) -> JSONResponse:
    """The OpenAPI description, for a signed-in inspector only (docs/lane.md documents the API for everyone else)."""
    return JSONResponse(openapi_document(request.app.state.title, "1", request.app.routes))
