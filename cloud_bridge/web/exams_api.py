"""The exam console's JSON API (`/api/exam/...`, docs/exam-site.md) and its live stream.

Console actions (candidates, check-in, starting, sign-off, override) need `Perm.EXAM` (exam-operator,
ops-admin) and, from a page, the session's CSRF token; reads of exams, cars, courses, the live map
and the summary need `Perm.EXAM_READ` (ops-viewer too). Every body is a pydantic model with bounds;
a refusal is a clear 4xx (`detail`), never a 500.
"""

from __future__ import annotations

import datetime as dt
import time
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.auth import Perm
from cloud_bridge.exam_live import LivePositions, live_stream
from cloud_bridge.exams import ExamError, ExamService, ImportRefused, cars, day_bounds, summary, today, track_of
from cloud_bridge.web.common import NO_CONTROL, TOKEN_TEXT, Ctx, Me, declare
from edge.contract import SITE_ID_RE, UNIT_ID_RE
from exam_vehicle.course import COURSES_DIR, Course, load_course
from exam_vehicle.gnss.epoch import Epoch
from exam_vehicle.signals import SignalChange

router = APIRouter()

ExamId = Annotated[str, Path(min_length=1, max_length=64, pattern=TOKEN_TEXT)]
CandidateId = Annotated[str, Path(pattern=r"^cand-[0-9a-f]{10}$")]
CourseName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
Day = Annotated[dt.date | None, Query(description="YYYY-MM-DD, local; today when absent")]
SiteQuery = Annotated[str | None, Query(max_length=32, pattern=SITE_ID_RE.pattern)]
ExamStatus = Literal["running", "passed", "failed", "invalid", "interrupted"]
MAX_CSV_ROWS = 2000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateIn(_Body):
    name: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL)
    id_number: str = Field(min_length=1, max_length=18, pattern=r"^[0-9Xx]+$")
    licence_class: str = Field(min_length=1, max_length=8, pattern=NO_CONTROL)
    booking_time: str = Field(min_length=1, max_length=40, pattern=NO_CONTROL)
    site: str | None = Field(None, max_length=32, pattern=SITE_ID_RE.pattern)


class CheckIn(_Body):
    id_number: str = Field(min_length=1, max_length=18, pattern=r"^[0-9Xx]+$")


class StartOn(_Body):
    car: str = Field(max_length=32, pattern=UNIT_ID_RE.pattern)


class SignOff(_Body):
    note: str = Field("", max_length=500, pattern=NO_CONTROL)


class Override(_Body):
    passed: bool
    reason: str = Field(min_length=1, max_length=500, pattern=NO_CONTROL)


class RowError(BaseModel):
    row: int
    field: str
    message: str


class ImportRefusal(BaseModel):
    """A 422 of the candidate routes: a refused CSV or candidate (its rows' errors), or a body FastAPI refused."""

    detail: str | list[dict[str, Any]]
    errors: list[RowError] = []


REFUSED_ROWS: dict[int | str, dict[str, Any]] = {
    422: {"model": ImportRefusal, "description": "bad rows; nothing imported"}
}


def _exams(ctx: Ctx) -> ExamService:
    return ExamService(ctx.service)


def _refused(exc: ImportRefused) -> JSONResponse:
    words = "; ".join(f"row {e['row']} {e['field']}: {e['message']}" for e in exc.errors[:20])
    return JSONResponse({"detail": words, "errors": exc.errors}, status_code=422)


def _http(exc: ExamError) -> HTTPException:
    return HTTPException(exc.status, exc.detail)


def positions(request: Request) -> LivePositions:
    """The web process's live positions (subscribed to MQTT on first use, when the bridge account's password is here)."""
    live: LivePositions = request.app.state.exam_live
    live.subscribe(request.app.state.settings)
    return live


# ---------------------------------------------------------------- candidates
@declare(router, "POST", "/api/exam/candidates/import", Perm.EXAM, responses=REFUSED_ROWS)
async def import_candidates(request: Request, ctx: Ctx, me: Me, site: SiteQuery = None) -> Any:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the CSV must be UTF-8") from None
    if text.count("\n") > MAX_CSV_ROWS:
        raise HTTPException(413, f"at most {MAX_CSV_ROWS} candidates per import")
    try:
        return {"imported": _exams(ctx).import_csv(text, site, me.name)}
    except ImportRefused as exc:
        return _refused(exc)
    except ExamError as exc:
        raise _http(exc) from None


@declare(router, "POST", "/api/exam/candidates", Perm.EXAM, responses=REFUSED_ROWS)
def add_candidate(ctx: Ctx, me: Me, body: CandidateIn) -> Any:
    try:
        return _exams(ctx).add_one(body.model_dump(exclude={"site"}), body.site, me.name)
    except ImportRefused as exc:
        return _refused(exc)
    except ExamError as exc:
        raise _http(exc) from None


@declare(router, "GET", "/api/exam/candidates", Perm.EXAM)
def list_candidates(ctx: Ctx, day: Day = None) -> list[dict[str, Any]]:
    return ctx.store.candidates.of_day(*day_bounds(day or today(time.time())))


@declare(router, "POST", "/api/exam/check-in", Perm.EXAM)
def check_in(ctx: Ctx, me: Me, body: CheckIn) -> dict[str, Any]:
    try:
        return _exams(ctx).check_in(body.id_number, me.name)
    except ExamError as exc:
        raise _http(exc) from None


@declare(router, "POST", "/api/exam/candidates/{candidate_id}/start", Perm.EXAM)
def start_exam(ctx: Ctx, me: Me, candidate_id: CandidateId, body: StartOn) -> dict[str, Any]:
    try:
        return _exams(ctx).start(candidate_id, body.car, me.name)
    except ExamError as exc:
        raise _http(exc) from None


# ---------------------------------------------------------------- cars and exams
@declare(router, "GET", "/api/exam/cars", Perm.EXAM_READ)
def list_cars(request: Request, ctx: Ctx) -> list[dict[str, Any]]:
    out = cars(ctx.service, positions(request).latest)
    last = {x["unit"]: x for x in reversed(ctx.store.exams.listed(0, 1e11, limit=500))}
    for c in out:
        x = ctx.store.exams.get(c["exam_id"]) if c["exam_id"] else last.get(c["unit"])
        c["course"], c["candidate"] = (x or {}).get("course"), (x or {}).get("candidate") if c["busy"] else None
    return out


@declare(router, "GET", "/api/exam/exams", Perm.EXAM_READ)
def list_exams(ctx: Ctx, day: Day = None, status: Annotated[ExamStatus | None, Query()] = None) -> list[dict[str, Any]]:
    return ctx.store.exams.listed(*day_bounds(day or today(time.time())), status)


def _exam(ctx: Ctx, exam_id: str) -> dict[str, Any]:
    x = ctx.store.exams.detail(exam_id)
    if x is None:
        raise HTTPException(404, "no such exam")
    return x


@declare(router, "GET", "/api/exam/exams/{exam_id}", Perm.EXAM_READ)
def get_exam(ctx: Ctx, exam_id: ExamId) -> dict[str, Any]:
    return _exam(ctx, exam_id)


@declare(router, "GET", "/api/exam/exams/{exam_id}/track", Perm.EXAM_READ)
def get_track(ctx: Ctx, exam_id: ExamId) -> dict[str, Any]:
    x = _exam(ctx, exam_id)
    gz = ctx.store.exams.track(exam_id)
    if gz is None:
        raise HTTPException(404, f"the track is {x['track_state']}, not uploaded yet")
    track = track_of(gz)
    course = _course(x["course"] or (track.header.course if track.header else ""))
    epochs, signals = [], []
    for i in track.inputs:
        if isinstance(i, Epoch) and i.lat is not None and i.lon is not None:
            e, n, _ = course.enu(i.lat, i.lon) if course else (None, None, None)
            epochs.append(
                [i.t, None if e is None else round(e, 3), None if n is None else round(n, 3), i.quality.value]
            )
        elif isinstance(i, SignalChange):
            signals.append([i.t, i.signal.value, i.value])
    return {"exam_id": exam_id, "course": course.name if course else None, "epochs": epochs, "signals": signals}


@declare(router, "GET", "/api/exam/exams/{exam_id}/reproduce", Perm.EXAM_READ)
def reproduce(ctx: Ctx, exam_id: ExamId) -> dict[str, Any]:
    try:
        return _exams(ctx).reproduce(exam_id)
    except ExamError as exc:
        raise _http(exc) from None


@declare(router, "POST", "/api/exam/exams/{exam_id}/sign-off", Perm.EXAM)
def sign_off(ctx: Ctx, me: Me, exam_id: ExamId, body: SignOff) -> dict[str, Any]:
    try:
        return _exams(ctx).sign_off(exam_id, me.name, body.note)
    except ExamError as exc:
        raise _http(exc) from None


@declare(router, "POST", "/api/exam/exams/{exam_id}/override", Perm.EXAM)
def override(ctx: Ctx, me: Me, exam_id: ExamId, body: Override) -> dict[str, Any]:
    try:
        return _exams(ctx).override(exam_id, me.name, body.passed, body.reason)
    except ExamError as exc:
        raise _http(exc) from None


# ---------------------------------------------------------------- course, live stream, summary
@cache
def _course(name: str) -> Course | None:
    """A shipped course by name (never a path: the name comes from a request or a car)."""
    if not name or not (COURSES_DIR / f"{name}.geojson").is_file() or "/" in name:
        return None
    return load_course(name)


@declare(router, "GET", "/api/exam/courses/{name}", Perm.EXAM_READ)
def get_course(name: CourseName) -> dict[str, Any]:
    course = _course(name)
    if course is None:
        raise HTTPException(404, "no such course")
    features = []
    for f in course.features:
        area = f.geom.geom_type == "Polygon"
        coords = f.geom.exterior.coords if area else getattr(f.geom, "coords", [])
        features.append(
            {
                "item": f.item,
                "role": f.role,
                "kind": "area" if area else "line",
                "coords": [[round(c[0], 3), round(c[1], 3)] for c in coords],
            }
        )
    return {"name": course.name, "origin": list(course.origin), "order": course.order, "features": features}


@declare(router, "GET", "/api/exam/live", Perm.EXAM_READ)
async def live(request: Request, ctx: Ctx) -> StreamingResponse:
    # EventSource always asks for the stream; a plain GET (a crawler, a test walking the routes) would never end
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise HTTPException(406, "an endless event stream: ask for it with Accept: text/event-stream")
    stream = live_stream(positions(request), ctx.store, request.is_disconnected, time.time())
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@declare(router, "GET", "/api/exam/summary", Perm.EXAM_READ)
def exam_summary(ctx: Ctx, day: Day = None) -> list[dict[str, Any]]:
    return summary(ctx.service, day or today(time.time()))
