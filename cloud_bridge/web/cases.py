"""The ops case pages and their JSON: the case list with filters (`/cases`, `/api/cases`) and one case with its stage
chart, VIN check and timeline (`/cases/{id}`, `/api/cases/{id}`).

Personal data (ID number, phone, address, birth date, the owner's name) is masked in every answer here; a role with
`Perm.PERSONAL_DATA` sees it only through an explicit POST (`.../personal-data`), and each such view is written to the
audit log before the data is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.auth import Perm, Principal
from cloud_bridge.case_view import StageChart, mask_personal, stage_chart, vin_evidence
from cloud_bridge.i18n import strings
from cloud_bridge.store.case_search import OUTCOME_FILTERS, CaseFilter, CaseSearch, Outcome
from cloud_bridge.web.common import NO_CONTROL, AppContext, CaseId, Ctx, Me, Page, PageOf, SearchText, declare, fmt_ts
from edge.contract import UNIT_ID_RE

router = APIRouter()

PAGE_SIZE = 50
MAX_PAGE = 10_000
PROMISE_S = 30 * 60  # the 30-minute promise, drawn on the stage chart when the axis reaches it

LaneFilter = Annotated[str, Query(max_length=32, pattern=f"^$|{UNIT_ID_RE.pattern}")]
OutcomeFilter = Annotated[str, Query(max_length=16, pattern="^$|^(" + "|".join(OUTCOME_FILTERS) + ")$")]
DayFilter = Annotated[str, Query(max_length=10, pattern=r"^$|^\d{4}-\d{2}-\d{2}$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Reason = Annotated[str, Form(max_length=200, pattern=NO_CONTROL)]


# ------------------------------------------------------------------ the list
def _day_start(day: str, field: str) -> float | None:
    """Local midnight of a YYYY-MM-DD day (the pages show local time), or None for no day; 422 for a day that is not
    one or lies outside 2000-2100 (a timestamp there is exact on every platform)."""
    if not day:
        return None
    try:
        d = dt.date.fromisoformat(day)
    except ValueError:
        d = None
    if d is None or not dt.date(2000, 1, 1) <= d <= dt.date(2100, 1, 1):
        # the shape of every other 422 (FastAPI's validation error), so clients and the schema see one kind
        msg = "a date YYYY-MM-DD from 2000-01-01 to 2100-01-01"
        raise RequestValidationError([{"type": "date_parsing", "loc": ("query", field), "msg": msg}])
    return dt.datetime.combine(d, dt.time()).astimezone().timestamp()


def case_filter(q: str, unit: str, outcome: str, day_from: str, day_to: str) -> CaseFilter:
    """The filter the list's query names: `to` is inclusive (cases opened up to the end of that day)."""
    until = _day_start(day_to, "to")
    chosen: Outcome | None = next((o for o in OUTCOME_FILTERS if o == outcome), None)
    return CaseFilter(
        unit=unit or None,
        outcome=chosen,
        opened_from=_day_start(day_from, "from"),
        opened_before=None if until is None else until + 86400,
        text=q,
    )


class CaseSummary(BaseModel):
    """One case in the list, personal data masked."""

    case_id: str
    unit: str | None
    site: str | None
    opened_at: float | None
    closed_at: float | None
    status: str = Field(description="registered, rejected, aborted, open or held")
    stage: str | None = Field(description="the latest event's kind")
    vin: str | None
    plate: str | None
    owner_name: str | None
    id_number: str | None
    paid: bool


class CaseList(BaseModel):
    """A page of `GET /api/cases`."""

    cases: list[CaseSummary]
    total: int
    page: int
    per_page: int


def _list(ctx: AppContext, f: CaseFilter, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
    rows, total = CaseSearch(ctx.store.engine).page(f, (page - 1) * per_page, per_page)
    return [mask_personal(r) for r in rows], total


@declare(router, "GET", "/cases", Perm.READ, page=True, response_class=HTMLResponse)
def cases_page(
    page: PageOf,
    ctx: Ctx,
    q: SearchText = "",
    unit: LaneFilter = "",
    outcome: OutcomeFilter = "",
    day_from: Annotated[DayFilter, Query(alias="from")] = "",
    day_to: Annotated[DayFilter, Query(alias="to")] = "",
    p: Annotated[PageNumber, Query(alias="page")] = 1,
) -> HTMLResponse:
    """Recent cases by default (newest first), narrowed by the filters, a page at a time."""
    rows, total = _list(ctx, case_filter(q, unit, outcome, day_from, day_to), p, PAGE_SIZE)
    kept = {"q": q, "unit": unit, "outcome": outcome, "from": day_from, "to": day_to}
    pages = max(1, -(-total // PAGE_SIZE))

    def link(n: int) -> str:
        return "/cases?" + urlencode({**{k: v for k, v in kept.items() if v}, "page": n})

    return page.render(
        "cases.html",
        results=rows,
        total=total,
        filters=kept,
        units=CaseSearch(ctx.store.engine).units(),
        outcomes=OUTCOME_FILTERS,
        page_no=p,
        pages=pages,
        prev_link=link(p - 1) if p > 1 else None,
        next_link=link(p + 1) if p < pages else None,
        fmt=fmt_ts,
        duration=site_time(ctx, page),
        simulated=ctx.settings.dashboard.simulated,
    )


@declare(router, "GET", "/api/cases", Perm.READ)
def api_cases(
    ctx: Ctx,
    q: SearchText = "",
    unit: LaneFilter = "",
    outcome: OutcomeFilter = "",
    day_from: Annotated[DayFilter, Query(alias="from")] = "",
    day_to: Annotated[DayFilter, Query(alias="to")] = "",
    page: PageNumber = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> CaseList:
    """The case list as JSON (personal data masked): the same filters as the page."""
    rows, total = _list(ctx, case_filter(q, unit, outcome, day_from, day_to), page, per_page)
    return CaseList(cases=[CaseSummary.model_validate(r) for r in rows], total=total, page=page, per_page=per_page)


# ------------------------------------------------------------------ one case
def site_time(ctx: AppContext, page: Page) -> Callable[[float | None], str]:
    """Durations of event time (the lanes' clocks) in the site's time, as the dashboard shows them: a simulated site
    (`[dashboard] time_scale`, `passlane demo --speed`) says simulated minutes where its lanes stamped seconds."""
    scale = ctx.settings.dashboard.time_scale
    return lambda s: duration_text(None if s is None else s * scale, page)


def duration_text(seconds: float | None, page: Page) -> str:
    """A duration in the page's units (1时 02分, 3分 12秒, 45秒 / 1h 02m, 3m 12s, 45s)."""
    if seconds is None:
        return "—"
    t = strings(page.lang)
    s = round(max(0.0, seconds))
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    if h:
        return f"{h}{t['unit_h']} {m:02d}{t['unit_m']}"
    if m:
        return f"{m}{t['unit_m']} {sec:02d}{t['unit_s']}"
    return f"{sec}{t['unit_s']}"


def tick_text(seconds: float, page: Page) -> str:
    """An axis tick: whole hours or minutes without the smaller unit (5分, 1时 / 5m, 1h)."""
    t = strings(page.lang)
    s = round(seconds)
    if s and s % 3600 == 0:
        return f"{s // 3600}{t['unit_h']}"
    if s % 60 == 0:
        return f"{s // 60}{t['unit_m']}" if s else "0"
    return duration_text(seconds, page)


@dataclass(frozen=True)
class ChartRow:
    """One bar of the stage chart in SVG units; `seconds` in site time."""

    kind: str | None
    x: float
    width: float
    seconds: float
    held: bool = False


@dataclass(frozen=True)
class ChartGeometry:
    """The stage chart laid out: bars and axis ticks in SVG units, the 30-minute line if the axis reaches it."""

    rows: list[ChartRow]
    ticks: list[tuple[float, float]]  # (x, seconds)
    limit_x: float | None
    height: float


CHART_LEFT, CHART_RIGHT, ROW_H = 170.0, 700.0, 24.0
_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def chart_geometry(chart: StageChart, scale: float = 1.0) -> ChartGeometry:
    """Bars placed on a time axis from the case's first step, with round ticks (at most about 7), in site seconds
    (`scale` site seconds per event second)."""
    span = max(chart.total * scale, 1.0)
    step = next((s for s in _STEPS if span / s <= 7), _STEPS[-1])
    axis = step * -(-span // step)
    px = (CHART_RIGHT - CHART_LEFT) / axis  # per site second

    def row(b: Any, held: bool = False) -> ChartRow:
        x = CHART_LEFT + (b.start - chart.origin) * scale * px
        return ChartRow(b.kind, x, max(1.0, b.seconds * scale * px), b.seconds * scale, held)

    rows = [row(b) for b in chart.bars] + [row(b, True) for b in chart.holds]
    ticks = [(CHART_LEFT + k * step * px, float(k * step)) for k in range(int(axis // step) + 1)]
    limit = CHART_LEFT + PROMISE_S * px if PROMISE_S <= axis else None
    return ChartGeometry(rows, ticks, limit, ROW_H * len(rows) + 34)


@dataclass(frozen=True)
class FieldRow:
    """One labelled field of an event's data, its value in the page's words."""

    label: str
    value: str
    depth: int
    mono: bool = False
    group: bool = False
    known: bool = True  # the label is the catalogue's (else the lane's own key, shown as code)


MONO_FIELDS = frozenset(
    "vin certificate_vin expected read read_vin id_number owner_id_number booking_number certificate_number "
    "engine_number record_number policy_number payment_id job_id ref image image_url number plate phone "
    "thresholds differs_at other_vehicles".split()
)
TIME_FIELDS = frozenset({"expires_at", "paid_at", "ts"})
DURATION_FIELDS = frozenset({"age_s", "duration_s"})
ITEM_FIELDS = frozenset({"item", "failed"})


def _scalar(key: str, v: Any, t: dict[str, str], page: Page, scale: float = 1.0) -> str:
    """One value in words: yes/no, times, durations, money, confidences, and the lanes' enumerations by catalogue."""
    if isinstance(v, bool):
        return t["yes"] if v else t["no"]
    if v is None or v == "":
        return "—"
    if isinstance(v, (int, float)):
        if key in TIME_FIELDS:
            return fmt_ts(float(v))
        if key in DURATION_FIELDS:
            return duration_text(float(v) * scale, page)
        if key == "amount_cents":
            return f"¥{v / 100:.2f}"
        if key == "ms":
            return f"{v:.0f} {t['unit_ms']}"
        if key in ("confidence", "score"):
            return f"{v:.3f}" if key == "confidence" else f"{v:.2f}"
        return str(v)
    text = str(v)
    if key in ITEM_FIELDS:
        return t.get(f"item_{text}", text)
    if key == "code":
        return f"{text} · {t[f'photo_{text}']}" if f"photo_{text}" in t else text
    if key == "outcome":
        return t.get(f"out_{text}", text)
    return t.get(f"v_{key}_{text}", text)


def event_fields(data: Any, page: Page, scale: float = 1.0, depth: int = 0) -> list[FieldRow]:
    """An event's data as labelled rows (nested records indented under their group), never as raw JSON.

    A key the catalogue does not know keeps its own name, shown as code: a newer lane's field is still readable."""
    t = strings(page.lang)
    rows: list[FieldRow] = []
    if not isinstance(data, dict):
        return rows
    for key, v in data.items():
        label = t.get(f"f_{key}")
        name = label or key
        if isinstance(v, dict) and key == "items":
            rows.append(FieldRow(name, "", depth, group=True))
            rows += [
                FieldRow(t.get(f"item_{k}") or str(k), _scalar("result", r, t, page), depth + 1) for k, r in v.items()
            ]
        elif isinstance(v, dict):
            rows.append(FieldRow(name, "", depth, group=True, known=label is not None))
            rows += event_fields(v, page, scale, depth + 1)
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            rows.append(FieldRow(name, "", depth, group=True, known=label is not None))
            for x in v:
                rows += event_fields(x, page, scale, depth + 1) if isinstance(x, dict) else []
        elif isinstance(v, list):
            sep = "、" if page.lang == "zh-CN" else ", "
            text = sep.join(_scalar(key, x, t, page) for x in v) or "—"
            rows.append(FieldRow(name, text, depth, key in MONO_FIELDS or label is None, known=label is not None))
        else:
            value = _scalar(key, v, t, page, scale)
            rows.append(FieldRow(name, value, depth, key in MONO_FIELDS or label is None, known=label is not None))
    return rows


def _render_case(page: Page, ctx: AppContext, case: dict[str, Any], unmasked: bool) -> HTMLResponse:
    closed = case.get("closed_at")
    scale = ctx.settings.dashboard.time_scale
    chart = stage_chart(case.get("timeline") or [], None if closed else ctx.service.clock())
    shown = case if unmasked else mask_personal(case)
    opened = case.get("opened_at")
    return page.render(
        "case.html",
        case=shown,
        fmt=fmt_ts,
        chart=chart_geometry(chart, scale) if chart else None,
        chart_total=chart.total if chart else None,
        vin=vin_evidence(case),
        fields=lambda data: event_fields(data, page, scale),
        duration=site_time(ctx, page),
        site_duration=lambda s: duration_text(s, page),
        tick=lambda s: tick_text(s, page),
        simulated=ctx.settings.dashboard.simulated,
        status=case.get("outcome") or ("held" if case.get("stage") == "case.held" else "open"),
        age=(closed or ctx.service.clock()) - opened if opened else None,
        unmasked=unmasked,
        may_unmask=bool(page.user and page.user.may(Perm.PERSONAL_DATA)),
        chart_left=CHART_LEFT,
        chart_right=CHART_RIGHT,
        row_h=ROW_H,
    )


def _case_or_404(ctx: AppContext, case_id: str) -> dict[str, Any]:
    case = ctx.store.case(case_id)
    if case is None:
        raise HTTPException(404, "no such case")
    return case


def _audit_view(ctx: AppContext, request: Request, me: Principal, case_id: str, reason: str) -> None:
    """Write the view of a case's personal data to the audit log; raises (and nothing is shown) if it cannot."""
    addr = request.client.host if request.client else "?"
    detail = {"addr": addr, "via": me.via, **({"reason": reason.strip()} if reason.strip() else {})}
    ctx.store.audit.append(me.name, "case.personal_data_view", f"case/{case_id}", detail, ctx.service.clock())


@declare(router, "GET", "/cases/{case_id}", Perm.READ, page=True, response_class=HTMLResponse)
def case_page(page: PageOf, ctx: Ctx, case_id: CaseId) -> HTMLResponse:
    """One case, personal data masked."""
    return _render_case(page, ctx, _case_or_404(ctx, case_id), unmasked=False)


@declare(router, "POST", "/cases/{case_id}/personal-data", Perm.PERSONAL_DATA, page=True, response_class=HTMLResponse)
def case_page_unmasked(
    page: PageOf, ctx: Ctx, request: Request, me: Me, case_id: CaseId, reason: Reason = ""
) -> HTMLResponse:
    """The case page with its personal data, after the view is audited (a POST: a link or a reload cannot do it
    silently)."""
    case = _case_or_404(ctx, case_id)
    _audit_view(ctx, request, me, case_id, reason)
    return _render_case(page, ctx, case, unmasked=True)


@declare(router, "GET", "/api/cases/{case_id}", Perm.READ)
def api_case(ctx: Ctx, case_id: CaseId) -> dict[str, Any]:
    """The case with its timeline, payments and plates (verbatim but for personal data, which is masked)."""
    result: dict[str, Any] = mask_personal(_case_or_404(ctx, case_id))
    return result


class PersonalDataRequest(BaseModel):
    """Why the caller needs the personal data (kept in the audit entry)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=200, pattern=NO_CONTROL)


@declare(router, "POST", "/api/cases/{case_id}/personal-data", Perm.PERSONAL_DATA)
def api_case_unmasked(
    ctx: Ctx, request: Request, me: Me, case_id: CaseId, body: PersonalDataRequest | None = None
) -> dict[str, Any]:
    """The case as `GET /api/cases/{case_id}` gives it, personal data unmasked; the view is audited first."""
    case = _case_or_404(ctx, case_id)
    _audit_view(ctx, request, me, case_id, body.reason if body else "")
    return case
