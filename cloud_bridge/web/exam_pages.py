"""The exam console's pages (`/exam`, `/exam/exams/{exam_id}`): the operator's console and an exam's result sheet.

The pages hold no data of their own: their scripts (`static/exam_console.js`, `static/exam_result.js`, over
`static/exam_common.js`) read and write the JSON console API (`cloud_bridge/web/exams_api.py`) with the session
cookie and its CSRF token, and follow the cars on the live stream `/api/exam/live`. The strings come in a
`data-strings` attribute (the Content-Security-Policy allows no inline script).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import HTMLResponse

from cloud_bridge.auth import Perm
from cloud_bridge.i18n import strings
from cloud_bridge.web.common import TOKEN_TEXT, Ctx, Page, PageOf, declare
from exam_vehicle.course import COURSES_DIR

router = APIRouter()

ExamId = Annotated[str, Path(min_length=1, max_length=64, pattern=TOKEN_TEXT)]


def _render(page: Page, name: str, **values: object) -> HTMLResponse:
    return page.render(name, t_json=json.dumps(strings(page.lang), ensure_ascii=False), **values)


@declare(router, "GET", "/exam", Perm.EXAM, page=True, response_class=HTMLResponse)
def exam_console_page(page: PageOf) -> HTMLResponse:
    """Today's candidates, the cars and the live map of the course, exams in progress and finished today (role
    exam-operator or ops-admin)."""
    day = dt.datetime.fromtimestamp(time.time()).astimezone().date().isoformat()
    # the courses the bridge can draw: the map shows the one the cars last drove, else the one chosen here
    courses = sorted(p.stem for p in COURSES_DIR.glob("*.geojson"))
    return _render(page, "exam_console.html", day=day, courses=courses)


@declare(router, "GET", "/exam/exams/{exam_id}", Perm.EXAM_READ, page=True, response_class=HTMLResponse)
def exam_result_page(page: PageOf, ctx: Ctx, exam_id: ExamId) -> HTMLResponse:
    """One exam's result: items, deductions, the track on the course with a replay, the printable sheet; the sign-off
    and override forms for those who may act on exams (an ops viewer reads the result, as the dashboard links it)."""
    exam = ctx.store.exams.get(exam_id)
    if exam is None:
        raise HTTPException(404, "no such exam")
    # the booking behind an exam the bridge started: the sheet names the candidate's ID number and licence class
    booking = ctx.store.candidates.get(exam["candidate_id"]) if exam.get("candidate_id") else None
    may_act = page.user is not None and page.user.may(Perm.EXAM)
    return _render(page, "exam_result.html", exam_id=exam_id, booking=booking, may_act=may_act)
