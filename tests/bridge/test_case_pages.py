"""The ops case list and case page: recent cases by default, filters by lane, outcome and day, pages; a case's stage
chart from its events, its VIN check, and its event data as labelled fields (no raw JSON).

`seed_cases` stores a small site through the real ingest: the other case-page tests and the browser test use it."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from web_helpers import make_web

from cloud_bridge.case_view import StageBar, stage_chart, vin_evidence
from cloud_bridge.ingest import classify
from cloud_bridge.store import Store
from cloud_bridge.store.case_search import CaseFilter, CaseSearch
from cloud_bridge.web.cases import chart_geometry
from edge.contract import EventEnvelope, Leaf, topic

ID_NUMBER = "320102198503120386"
PHONE = "13412342064"
ADDRESS = "江苏省南京市玄武区中山路88号3栋1201室"
OWNER = "张伟明"
VIN = "LSVAU2180N2183294"
MISREAD = "LSVAU2180N2I83Z94"  # what the reader made of a dirty plate: 2 positions differ
NOW = time.time()  # every case opened before now: four, three, two, one day(s) ago and within the last hour
DAY = 86400.0
pytestmark = pytest.mark.usefixtures("local_noon")  # the cases of "yesterday" and "today" fall on those days


def _records(vin: str = VIN) -> dict[str, Any]:
    return {
        "records": {
            "owner": {
                "id_number": ID_NUMBER,
                "name": OWNER,
                "gender": "M",
                "birth_date": "1985-03-12",
                "address": ADDRESS,
                "phone": PHONE,
            },
            "vehicle": {
                "vin": vin,
                "owner_id_number": ID_NUMBER,
                "certificate": {"vin": vin, "brand": "大众", "model": "朗逸", "fuel_type": "petrol", "seats": 5},
                "purchase_tax": {"status": "paid", "amount_cents": 1250000},
                "insurance": {"status": "valid", "insurer": "人保"},
                "plate_kind": "ordinary",
                "issues": [],
            },
            "other_vehicles": [],
        },
        "problems": [],
    }


def _read(read: str, cert: str, differs: list[int]) -> dict[str, Any]:
    return {
        "vin": read,
        "decision": "review" if differs else "accept",
        "confidence": 0.912 if differs else 0.993,
        "check_digit": "invalid" if differs else "valid",
        "image": "vin/lane-01-a1.jpg",
        "ms": 84.2,
        "certificate_vin": cert,
        "verification": {"expected": cert, "decision": "mismatch" if differs else "match", "differs_at": differs},
        "matches": not differs,
    }


def registered(plate: str) -> list[tuple[float, str, dict[str, Any]]]:
    """A registered case: (minutes after its start, kind, data)."""
    return [
        (0, "case.opened", {"id_number": ID_NUMBER, "booking_number": "B-1"}),
        (1, "case.partner_records", _records()),
        (3, "case.admitted", {}),
        (4, "case.vin_read", _read(VIN, VIN, [])),
        (4.2, "case.vin_confirmed", {"vin": VIN, "by": "reader"}),
        (6, "case.inspection_item", {"item": "tyres", "result": "pass"}),
        (7, "case.photo", {"code": "0113", "ref": "photos/lane-01-a1-0113.jpg"}),
        (11, "case.inspected", {"ok": True, "failed": [], "items": {"tyres": "pass"}, "too_fast": False}),
        (14, "case.plate_reserved", {"number": plate, "expires_at": NOW + 600}),
        (17, "case.paid", {"payment_id": "pay_1", "amount_cents": 11000}),
        (21, "case.plates_issued", {"job_id": "job-1", "plate": plate}),
        (24, "case.plates_fitted", {}),
        (25, "case.exit_opened", {"outcome": "registered"}),
        (26, "case.closed", {"outcome": "registered", "age_s": 1560}),
    ]


REJECTED = [
    (0, "case.opened", {"id_number": ID_NUMBER}),
    (1, "case.partner_records", _records()),
    (2, "case.admitted", {}),
    (3, "case.vin_read", _read(MISREAD, VIN, [12, 15])),
    (9, "case.rejected", {"reason": "VIN differs", "stage": "admitted", "paid": False}),
    (10, "case.exit_opened", {"outcome": "rejected"}),
    (11, "case.closed", {"outcome": "rejected", "age_s": 660}),
]
ABORTED = [(0, "case.opened", {"id_number": ID_NUMBER}), (2, "case.aborted", {"reason": "owner left"})]
HELD = [
    (0, "case.opened", {"id_number": ID_NUMBER}),
    (1, "case.partner_records", _records()),
    (2, "case.admitted", {}),
    (5, "case.held", {"reason": "printer jam"}),
]
OPEN = [(0, "case.opened", {"id_number": ID_NUMBER}), (1, "case.partner_records", _records())]

# case id -> (unit, start, events)
SITE: dict[str, tuple[str, float, list[tuple[float, str, dict[str, Any]]]]] = {
    "lane-01-261203-00a001": ("lane-01", NOW - 3 * DAY, registered("苏A10001")),
    "lane-02-261204-00a002": ("lane-02", NOW - 2 * DAY, registered("苏A10002")),
    "lane-01-261205-00b001": ("lane-01", NOW - DAY - 7200, REJECTED),
    "lane-02-261205-00c001": ("lane-02", NOW - DAY - 3600, ABORTED),
    "lane-01-261206-00d001": ("lane-01", NOW - 3000, HELD),
    "lane-02-261206-00e001": ("lane-02", NOW - 1200, OPEN),
}


def opened_on(day: dt.date) -> list[str]:
    """The SITE cases opened on a local day, newest first (what a day filter must return, whenever the test runs)."""
    on = [(start, c) for c, (_, start, _) in SITE.items() if dt.date.fromtimestamp(start) == day]
    return [c for _, c in sorted(on, reverse=True)]


def seed_cases(ingest: Callable[..., Any], extra: int = 0) -> None:
    """Store SITE (and `extra` short registered cases on lane-03, each a minute apart, four days ago) as lanes would
    send it: one event stream per unit, gap-free seqs."""
    seqs: dict[str, int] = {}
    items = []
    cases = dict(SITE)
    for i in range(extra):
        cases[f"lane-03-261202-{i:06x}"] = ("lane-03", NOW - 4 * DAY - 7200 + 60 * i, registered(f"苏B{20000 + i}"))
    for case_id, (unit, start, events) in cases.items():
        for minute, kind, data in events:
            seqs[unit] = seqs.get(unit, 0) + 1
            ev = EventEnvelope(
                unit=unit,
                seq=seqs[unit],
                ts=start + 60 * minute,
                kind=kind,
                case_id=case_id,
                actor="insp-7" if kind in ("case.inspected", "case.rejected") else "system",
                data=data,
            )
            items.append(classify(topic("site-1", unit, Leaf.EVENTS), ev.to_bytes(), time.time()))
    ingest(items, time.time())


def timeline(events: list[tuple[float, str, dict[str, Any]]], t0: float = 1_000_000.0) -> list[dict[str, Any]]:
    return [{"ts": t0 + 60 * m, "kind": k, "data": d, "seq": i + 1} for i, (m, k, d) in enumerate(events)]


# ------------------------------------------------------------------ the stage chart, pure
def test_the_stage_chart_cuts_a_registered_case_at_each_step_in_order() -> None:
    chart = stage_chart(timeline(registered("苏A1")))
    assert chart is not None
    kinds = [b.kind for b in chart.bars]
    assert kinds == [
        "case.partner_records",
        "case.admitted",
        "case.vin_confirmed",
        "case.inspected",
        "case.plate_reserved",
        "case.paid",
        "case.plates_issued",
        "case.plates_fitted",
        "case.exit_opened",
        "case.closed",
    ]
    assert [round(b.seconds) for b in chart.bars] == [60, 120, 72, 408, 180, 180, 240, 180, 60, 60]
    assert chart.total == 26 * 60 and chart.holds == []


def test_the_stage_chart_of_an_open_case_runs_to_now_and_shows_its_hold() -> None:
    events = timeline(HELD)
    chart = stage_chart(events, now=events[0]["ts"] + 20 * 60)
    assert chart is not None
    assert chart.bars[-1] == StageBar(None, events[2]["ts"], events[0]["ts"] + 20 * 60)  # running since admitted
    assert chart.holds == [StageBar("case.held", events[3]["ts"], events[0]["ts"] + 20 * 60)]
    resumed = stage_chart([*events, {"ts": events[3]["ts"] + 120, "kind": "case.resumed", "data": {}}], now=None)
    assert resumed is not None and [round(h.seconds) for h in resumed.holds] == [120]


def test_the_stage_chart_follows_event_times_not_arrival_order_and_needs_two_points() -> None:
    shuffled = list(reversed(timeline(REJECTED)))
    chart = stage_chart(shuffled)
    assert chart is not None
    assert [b.kind for b in chart.bars] == [
        "case.partner_records",
        "case.admitted",
        "case.vin_read",  # no confirmation: the read ends the VIN step
        "case.rejected",
        "case.exit_opened",
        "case.closed",
    ]
    assert stage_chart(timeline([(0, "case.opened", {})])) is None


def test_the_chart_axis_has_round_ticks_and_the_30_minute_line_only_when_reached() -> None:
    long = stage_chart(timeline([(2 * m, k, d) for m, k, d in registered("苏A1")]))  # 52 minutes
    assert long is not None
    g = chart_geometry(long)
    steps = {round(b[1] - a[1]) for a, b in zip(g.ticks, g.ticks[1:])}
    assert steps == {600} and g.ticks[0][1] == 0 and g.limit_x is not None
    short = chart_geometry(stage_chart(timeline(ABORTED)))  # type: ignore[arg-type]
    assert short.limit_x is None and {round(b[1] - a[1]) for a, b in zip(short.ticks, short.ticks[1:])} == {30}
    assert all(r.x >= 170 and r.x + r.width <= 700.5 for r in g.rows)


# ------------------------------------------------------------------ the VIN check, pure
def test_the_vin_check_aligns_the_read_with_the_certificate_and_marks_the_differences() -> None:
    ev = vin_evidence({"timeline": timeline(REJECTED), "cert_vin": VIN})
    assert ev is not None
    assert [c.position for c in ev.cells if c.differs] == [12, 15]
    assert [c.position for c in ev.cells if c.flagged] == [12, 15]
    assert "".join(c.read for c in ev.cells) == MISREAD and "".join(c.expected for c in ev.cells) == VIN
    assert ev.confidence == 0.912 and ev.decision == "review" and ev.verification == "mismatch"
    # the lane keeps the photo: the bridge has its path, not its bytes, and shows no image for a path
    assert ev.photo is None and ev.photo_ref == "vin/lane-01-a1.jpg"


def test_the_vin_check_shows_a_photo_the_lane_did_send() -> None:
    data = "data:image/png;base64," + "A" * 300
    ev = vin_evidence({"timeline": timeline([(0, "case.vin_confirmed", {"vin": VIN, "image": data})])})
    assert ev is not None and ev.photo == data and ev.confirmed == VIN and ev.cells == []


# ------------------------------------------------------------------ the list's filters, in the store
def _ids(store: Store, **f: Any) -> list[str]:
    rows, total = CaseSearch(store.engine).page(CaseFilter(**f), 0, 100)
    assert total == len(rows)
    return [r["case_id"] for r in rows]


def test_the_store_filters_cases_by_lane_outcome_day_and_text(store: Store, ingest) -> None:
    seed_cases(ingest)
    assert _ids(store) == [
        "lane-02-261206-00e001",
        "lane-01-261206-00d001",
        "lane-02-261205-00c001",
        "lane-01-261205-00b001",
        "lane-02-261204-00a002",
        "lane-01-261203-00a001",
    ]  # newest first
    assert _ids(store, unit="lane-01") == ["lane-01-261206-00d001", "lane-01-261205-00b001", "lane-01-261203-00a001"]
    assert _ids(store, outcome="registered") == ["lane-02-261204-00a002", "lane-01-261203-00a001"]
    assert _ids(store, outcome="rejected") == ["lane-01-261205-00b001"]
    assert _ids(store, outcome="aborted") == ["lane-02-261205-00c001"]
    assert _ids(store, outcome="held") == ["lane-01-261206-00d001"]
    assert _ids(store, outcome="open") == ["lane-02-261206-00e001"]
    assert _ids(store, unit="lane-02", outcome="registered") == ["lane-02-261204-00a002"]
    day = dt.date.fromtimestamp(NOW - DAY)
    midnight = dt.datetime.combine(day, dt.time()).timestamp()
    assert _ids(store, opened_from=midnight, opened_before=midnight + DAY) == opened_on(day)
    assert "lane-01-261205-00b001" in opened_on(day) or "lane-02-261205-00c001" in opened_on(day)
    today = dt.date.fromtimestamp(NOW)
    assert _ids(store, opened_from=midnight + DAY) == opened_on(today)
    assert _ids(store, text="苏A10002") == ["lane-02-261204-00a002"]
    assert _ids(store, text="lane-01-261205-00b001") == ["lane-01-261205-00b001"]
    assert _ids(store, text="%") == []  # a LIKE wildcard is taken literally
    rows, _ = CaseSearch(store.engine).page(CaseFilter(), 0, 100)
    assert {r["case_id"]: r["status"] for r in rows}["lane-01-261206-00d001"] == "held"
    assert CaseSearch(store.engine).units() == ["lane-01", "lane-02"]


def test_the_store_pages_newest_first_and_counts_every_match(store: Store, ingest) -> None:
    seed_cases(ingest, extra=7)
    search = CaseSearch(store.engine)
    first, total = search.page(CaseFilter(unit="lane-03"), 0, 3)
    last, _ = search.page(CaseFilter(unit="lane-03"), 6, 3)
    assert total == 7 and [r["case_id"] for r in first] == [
        "lane-03-261202-000006",
        "lane-03-261202-000005",
        "lane-03-261202-000004",
    ]
    assert [r["case_id"] for r in last] == ["lane-03-261202-000000"]


# ------------------------------------------------------------------ the pages and the API
@pytest.fixture
def web(store: Store, ingest, tmp_path):
    seed_cases(ingest, extra=55)
    w = make_web(store, tmp_path)
    yield w
    w.close()


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-case="([^"]+)"', html)


def test_the_cases_page_lists_recent_cases_without_a_search_and_pages(web) -> None:
    c = web.client()
    c.headers.update(web.bearer("vic"))
    page = c.get("/cases?lang=en")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert (
        len(rows) == 50
        and rows[0] == "lane-02-261206-00e001"
        and "61 cases" in page.text
        and "Page 1 of 2" in page.text
    )
    second = c.get("/cases?page=2&lang=en")
    assert _rows(second.text)[-1] == "lane-03-261202-000000" and len(_rows(second.text)) == 11


def test_the_cases_page_filters_by_lane_outcome_and_dates(web) -> None:
    c = web.client()
    c.headers.update(web.bearer("vic"))
    day = dt.date.fromtimestamp(NOW - DAY)
    yesterday = day.isoformat()
    assert _rows(c.get("/cases", params={"outcome": "rejected"}).text) == ["lane-01-261205-00b001"]
    assert _rows(c.get("/cases", params={"outcome": "held", "unit": ""}).text) == ["lane-01-261206-00d001"]
    assert _rows(c.get("/cases", params={"unit": "lane-02", "outcome": "registered"}).text) == ["lane-02-261204-00a002"]
    assert _rows(c.get("/cases", params={"from": yesterday, "to": yesterday}).text) == opened_on(day) != []
    page = c.get("/cases", params={"unit": "lane-01", "outcome": "", "from": "", "to": "", "q": ""})
    assert _rows(page.text) == ["lane-01-261206-00d001", "lane-01-261205-00b001", "lane-01-261203-00a001"]
    assert '<option value="lane-01" selected>' in page.text  # the form keeps what was chosen
    many = c.get("/cases", params={"unit": "lane-03", "page": 2})
    assert 'href="/cases?unit=lane-03&amp;page=1"' in many.text  # page links keep the filters


def test_the_api_lists_with_the_same_filters(web) -> None:
    c = web.client()
    h = web.bearer("vic")
    body = c.get("/api/cases", params={"outcome": "open"}, headers=h).json()
    assert [x["case_id"] for x in body["cases"]] == ["lane-02-261206-00e001"] and body["total"] == 1
    assert body["cases"][0]["status"] == "open" and body["cases"][0]["stage"] == "case.partner_records"
    paged = c.get("/api/cases", params={"unit": "lane-03", "per_page": 5, "page": 12}, headers=h).json()
    assert paged["total"] == 55 and len(paged["cases"]) == 0
    assert c.get("/api/cases", params={"q": "苏A10001"}, headers=h).json()["total"] == 1


@pytest.mark.parametrize(
    "params",
    [{"outcome": "lost"}, {"from": "2026-13-01"}, {"to": "1999-12-31"}, {"unit": "Lane 1"}, {"page": 0}],
)
def test_the_list_refuses_bad_filters_with_422(web, params: dict[str, Any]) -> None:
    c = web.client()
    h = web.bearer("vic")
    assert c.get("/api/cases", params=params, headers=h).status_code == 422
    assert c.get("/cases", params=params, headers=h).status_code == 422


def test_the_case_page_draws_the_stage_chart_and_the_vin_check(web) -> None:
    c = web.client()
    c.headers.update(web.bearer("vic"))
    html = c.get("/cases/lane-01-261203-00a001?lang=en").text
    chart = re.search(r'<svg id="stage-chart".*?</svg>', html, re.S)
    assert chart is not None
    assert len(re.findall(r'<rect class="bar"', chart.group(0))) == 10
    # 26 minutes: the axis ends at the 30-minute line
    assert '<line class="limit" id="limit-line" x1="700.0"' in chart.group(0) and ">plates issued<" in chart.group(0)
    rejected = c.get("/cases/lane-01-261205-00b001?lang=en").text
    differs = re.findall(r'<td class="mono differs flagged" data-pos="(\d+)">', rejected)
    assert differs == ["12", "15"]
    assert "The VIN photo is kept on the lane" in rejected and "vin/lane-01-a1.jpg" in rejected
    held = c.get("/cases/lane-01-261206-00d001?lang=en").text
    assert 'class="bar held"' in held and 'data-kind="running"' in held and "on hold" in held


def test_event_data_is_shown_as_labelled_translated_fields_not_json(web) -> None:
    c = web.client()
    c.headers.update(web.bearer("vic"))
    for lang, words in (
        ("zh-CN", ["车辆购置税", "已缴纳", "识别结论", "需人工复核", "与合格证不符", "不一致位置", "原因"]),
        ("en", ["Purchase tax", "paid", "Decision", "needs review", "differs from the certificate", "Differs at"]),
    ):
        html = c.get(f"/cases/lane-01-261205-00b001?lang={lang}").text
        cells = re.findall(r'<td class="ev-data">(.*?)</td>', html, re.S)
        assert cells and not any(re.search(r'[{\[]"', cell) for cell in cells), "raw JSON in the timeline"
        text = re.sub(r"<[^>]+>", " ", "".join(cells))
        for w in words:
            assert w in text, (lang, w)
    reg = c.get("/cases/lane-01-261203-00a001?lang=zh-CN").text
    assert "轮胎完好情况" in reg and "合格" in reg and "¥110.00" in reg and "0113 · 车辆识别代号" in reg


def test_the_case_pages_in_chinese_show_no_key_raw_event_name_or_english_value(web) -> None:
    """The zh-CN check of test_dashboard_zh over this richer site: partner records, VIN reads with their verification,
    a rejection, a hold, and the admin's unmasked view."""
    import page_text
    from test_dashboard_zh import untranslated

    c = web.client()
    c.headers.update(web.bearer("ada"))
    pages = [c.get("/cases?lang=zh-CN"), c.get("/cases?outcome=held&lang=zh-CN")]
    pages += [c.get(f"/cases/{case}?lang=zh-CN") for case in SITE]
    pages.append(c.post(f"/cases/{next(iter(SITE))}/personal-data?lang=zh-CN"))
    for r in pages:
        assert r.status_code == 200
        text = page_text.visible_text(r.text, skip_classes=("mono",))
        assert untranslated(text) == [], (r.url, untranslated(text))
        assert not re.search(r"\b(accept|review|valid|invalid|match|mismatch|reader|inspector|pass|fail)\b", text), (
            r.url
        )


def test_a_simulated_site_shows_case_durations_in_its_own_time(store: Store, ingest, tmp_path) -> None:
    """`[dashboard] time_scale = 60` (a 60x demo): one event second is a site minute, on the case pages as on the
    dashboard; clock times stay as the lanes stamped them."""
    seed_cases(ingest)
    web = make_web(store, tmp_path, **{"dashboard.time_scale": 60.0})
    try:
        c = web.client()
        c.headers.update(web.bearer("vic"))
        html = c.get("/cases/lane-01-261203-00a001?lang=en").text
        assert 'id="sim-badge"' in html
        assert re.search(r'id="case-age">26h 00m<', html)  # 26 event minutes
        chart = re.search(r'<svg id="stage-chart".*?</svg>', html, re.S)
        assert chart is not None and ">6h 48m<" in chart.group(0)  # the inspection: 408 event seconds
        assert 'Time taken</dt><dd class="">26h 00m' in html  # case.closed's age_s in the timeline
        listing = c.get("/cases?outcome=registered&lang=en").text
        assert 'id="sim-badge"' in listing and ">26h 00m<" in listing
    finally:
        web.close()
