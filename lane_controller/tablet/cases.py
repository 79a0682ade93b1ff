"""Cases and their actions: each route turns a checked request into one Lane call and answers with the case view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from edge.typed_routes import Router, json_body
from lane_controller import case as C
from lane_controller.runtime import Lane
from lane_controller.tablet.bodies import (
    MAX_PHOTO,
    PHOTO_FORM_LIMITS,
    PHOTO_TYPES,
    ActionName,
    CaseId,
    CaseLimit,
    CaseState,
    Empty,
    ItemBody,
    OpenCaseBody,
    PassedBody,
    PhotoCode,
    PlateBody,
    ReasonBody,
    VehicleBody,
    VinConfirmBody,
    photo_type,
)
from lane_controller.tablet.deps import Actor, LaneDep, case_view
from lane_controller.tablet.errors import TabletError

router = Router()

SIMPLE_ACTIONS: dict[str, Callable[[], C.Input]] = {
    "admit": C.Admit,
    "conclude": C.Conclude,
    "issue": C.Issue,
    "fitted": C.Fitted,
    "exit": C.OpenExit,
    "resume": C.Resume,
}
REASON_ACTIONS: dict[str, Callable[[str], C.Input]] = {"reject": C.Reject, "abort": C.Abort, "hold": C.Hold}


def refused(exc: C.Refused) -> JSONResponse:
    """The case does not allow the step now: 409 with the case machine's reason."""
    return JSONResponse({"ok": False, "error": exc.reason}, status_code=409)


async def apply(lane: Lane, case_id: str, inp: C.Input, actor: str) -> Any:
    try:
        await lane.apply(case_id, inp, actor)
    except C.Refused as exc:
        return refused(exc)
    return {"ok": True, "case": lane.case_view(case_id)}


@router.post("/api/cases")
async def open_case(body: OpenCaseBody, lane: LaneDep, actor: Actor) -> Any:
    try:
        case = await lane.open_case(body.station, body.id_number, body.booking_number, actor)
    except C.Refused as exc:
        return refused(exc)
    return {"ok": True, "case": lane.case_view(case.case_id)}


@router.get("/api/cases")
async def list_cases(lane: LaneDep, _: Actor, state: CaseState = "all", limit: CaseLimit = 100) -> dict[str, Any]:
    rows = lane.journal.list_cases({"open": True, "closed": False}.get(state), limit)
    return {"ok": True, "cases": [lane.case_summary(C.Case.model_validate(r.state)) for r in rows]}


@router.get("/api/cases/{case_id}")
async def get_case(case_id: CaseId, lane: LaneDep, _: Actor) -> dict[str, Any]:
    return {"ok": True, "case": case_view(lane, case_id)}


@router.post("/api/cases/{case_id}/vehicle")
async def choose_vehicle(case_id: CaseId, body: VehicleBody, lane: LaneDep, actor: Actor) -> Any:
    """The owner has several pending vehicles: the inspector says which one is at the lane."""
    return await apply(lane, case_id, C.ChooseVehicle(body.vin), actor)


@router.post("/api/cases/{case_id}/vin/confirm")
async def vin_confirm(case_id: CaseId, body: VinConfirmBody, lane: LaneDep, actor: Actor) -> Any:
    return await apply(lane, case_id, C.VinConfirm(body.vin, body.reason or None), actor)


@router.post("/api/cases/{case_id}/vin/reread")
async def vin_reread(case_id: CaseId, lane: LaneDep, _: Actor) -> Any:
    c = lane.cases.get(case_id)
    if c is None or c.stage != C.Stage.ADMITTED:
        return refused(C.Refused("the VIN is read while the vehicle is on the station"))
    await lane.capture_vin(case_id)
    return {"ok": True, "case": lane.case_view(case_id)}


@router.post("/api/cases/{case_id}/items")
async def mark_item(case_id: CaseId, body: ItemBody, lane: LaneDep, actor: Actor) -> Any:
    return await apply(lane, case_id, C.MarkItem(body.item, body.result), actor)


async def photo_bytes(request: Request) -> bytes | None:
    """The uploaded photo (multipart field ``file``) if it is a JPEG or PNG, declared and in its bytes, of at most
    10 MB; None when no upload was sent (the station camera takes it). Read only after the sign-in was checked."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        if await request.body():
            raise TabletError(422, "err_photo_type")  # a photo comes as a multipart upload, or not at all
        return None
    async with request.form(**PHOTO_FORM_LIMITS) as form:  # closes the spooled upload when done
        file = form.get("file")
        if (
            not isinstance(file, UploadFile)
            or (file.content_type or "").split(";")[0].strip().lower() not in PHOTO_TYPES
        ):
            raise TabletError(422, "err_photo_type")
        data = await file.read(MAX_PHOTO + 1)
    if len(data) > MAX_PHOTO:
        raise TabletError(413, "err_photo_too_large")
    if photo_type(data) is None:
        raise TabletError(422, "err_photo_type")
    return data


PHOTO_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": False,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            }
        },
    }
}


@router.post("/api/cases/{case_id}/photos/{code}", openapi_extra=PHOTO_UPLOAD_SCHEMA)  # its body cap: body_limit
async def photo(request: Request, case_id: CaseId, code: PhotoCode, lane: LaneDep, actor: Actor) -> Any:
    """An uploaded photo, or (no file) one taken by the station camera."""
    data = await photo_bytes(request)
    try:
        await lane.save_photo(case_id, code, data, actor)
    except C.Refused as exc:
        return refused(exc)
    return {"ok": True, "case": lane.case_view(case_id)}


@router.post("/api/cases/{case_id}/plate")
async def plate(case_id: CaseId, body: PlateBody, lane: LaneDep, actor: Actor) -> Any:
    number = body.number.strip().upper() if body.composed else body.number
    return await apply(lane, case_id, C.ChoosePlate(number, body.composed), actor)


@router.post("/api/cases/{case_id}/passed")
async def passed(case_id: CaseId, body: PassedBody, lane: LaneDep, actor: Actor) -> Any:
    """The inspector saw the vehicle pass (its loop event was missed, e.g. while the lane restarted)."""
    return await apply(lane, case_id, C.VehiclePassed(body.barrier), actor)


@router.post("/api/cases/{case_id}/{action}")
async def case_action(request: Request, case_id: CaseId, action: ActionName, lane: LaneDep, actor: Actor) -> Any:
    """The generic route behind admit, conclude, issue, fitted, exit, resume (no body) and reject, abort, hold (a reason)."""
    if action in SIMPLE_ACTIONS:
        await json_body(request, Empty, empty={})  # no body, or an empty object
        return await apply(lane, case_id, SIMPLE_ACTIONS[action](), actor)
    if action in REASON_ACTIONS:
        body = await json_body(request, ReasonBody, empty={})
        return await apply(lane, case_id, REASON_ACTIONS[action](body.reason), actor)
    raise TabletError(404, "err_unknown_action", action=action)
