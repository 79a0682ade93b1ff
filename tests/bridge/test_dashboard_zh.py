"""The ops pages in zh-CN say every value in Chinese: no catalogue key, raw event name, English value word or AM/PM.

The cases (registered, rejected, aborted, one still open) and alerts are stored through the ingest and the alert
store, then every page is rendered by the app and its visible text (outside code cells: VINs, hashes, event data)
is searched."""

from __future__ import annotations

import re
import time

import page_text
import pytest
from page_text import untranslated_finder
from web_helpers import make_web

from cloud_bridge.i18n import STRINGS, strings
from cloud_bridge.ingest import ExamFinding, classify
from cloud_bridge.rules import (
    RiskRulesConfig,
    Rule,
    alert_signal,
    case_of_another_unit_signal,
    check_event,
    exam_fold_signals,
    exam_override_signal,
    failed_logins_signal,
    offline_unit_signals,
    open_case_signals,
    override_rate_signal,
    pass_rate_signals,
    plate_issued_twice_signal,
    track_missing_signals,
)
from cloud_bridge.web.alerts import alert_text
from edge.contract import EventEnvelope, EventKind, Leaf, topic

T0 = time.time() - 3600
CASES = {
    "lane-01-261206-000001": [
        ("case.opened", {}),
        ("case.partner_records", {}),
        ("case.admitted", {}),
        ("case.vin_read", {"vin": "LSVAU2180N2183294"}),
        ("case.vin_confirmed", {"vin": "LSVAU2180N2183294"}),
        ("case.inspection_item", {"item": "tyres", "result": "pass"}),
        ("case.photo", {"code": "0111"}),
        ("case.inspected", {"ok": True}),
        ("case.plate_reserved", {"number": "苏A12345"}),
        ("case.paid", {}),
        ("case.plates_issued", {"plate": "苏A12345"}),
        ("case.plates_fitted", {}),
        ("case.exit_opened", {"outcome": "registered"}),
        ("case.closed", {"outcome": "registered"}),
    ],
    "lane-01-261206-000002": [
        ("case.opened", {}),
        ("case.admitted", {}),
        ("case.held", {"reason": "x"}),
        ("case.resumed", {}),
        ("case.rejected", {"reason": "VIN differs"}),
        ("case.exit_opened", {"outcome": "rejected"}),
        ("case.closed", {"outcome": "rejected"}),
    ],
    "lane-01-261206-000003": [("case.opened", {}), ("case.aborted", {"reason": "x"}), ("case.closed", {})],
    "lane-01-261206-000004": [("case.opened", {}), ("case.admitted", {}), ("case.inspection_item", {"item": "vin"})],
}
# the English words of the values these pages show (outcomes, severities, alert states, event kinds)
VALUE_PREFIXES = ("out_", "sev_", "alert_", "ev_", "rule_", "act_", "role_")
ENGLISH_VALUES = {v["en"].lower() for k, v in STRINGS.items() if k.startswith(VALUE_PREFIXES) and " " not in v["en"]}
# event kinds, and the audit log's actions (user.sign_in, alert.resolve, plate_pool.release, ...)
RAW = ("case", "exam", "device", "barrier", "inspector", "command", "event", "user", "alert", "token", "reference")
untranslated = untranslated_finder(STRINGS, ENGLISH_VALUES, (*RAW, "plate_pool"))


def visible_text(html: str) -> str:
    """No tags, attributes, scripts or code cells (class mono: VINs, hashes, event data)."""
    return page_text.visible_text(html, skip_classes=("mono",))


# device reports as the lane words them: a plate jam (its own alert), a link lost and back (an alert that cleared itself)
DEVICE_EVENTS = [
    ("device.fault", {"device": "plate-issuer", "detail": "jam (job j-1)", "job_id": "j-1"}),
    ("device.fault", {"device": "io-board", "detail": "link down"}),
    ("device.recovered", {"device": "io-board"}),
]


def _store_site(store, ingest) -> None:
    seq = 1
    for case, kinds in CASES.items():
        events = [
            EventEnvelope(unit="lane-01", seq=seq + i, ts=T0 + 60 * i, kind=k, case_id=case, actor="insp-7", data=d)
            for i, (k, d) in enumerate(kinds)
        ]
        ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), time.time()) for e in events])
        seq += len(kinds)
    devices = [
        EventEnvelope(unit="lane-01", seq=seq + i, ts=time.time(), kind=k, data=d)
        for i, (k, d) in enumerate(DEVICE_EVENTS)
    ]
    ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), time.time()) for e in devices])
    cfg = RiskRulesConfig()
    store.alerts.raise_all(
        [
            alert_signal(cfg, Rule.VIN_DIFFERS_FROM_CERTIFICATE, 2, "t", "d", "site-1", "lane-01", "x"),
            alert_signal(cfg, Rule.DEVICE_OFFLINE, "io", "t", "d", "site-1", "lane-01"),
            alert_signal(cfg, Rule.VIN_CORRECTED, 3, "t", "d", "site-1", "lane-01"),
        ]
    )
    for action in ("user.sign_in", "alert.acknowledge", "plate_pool.release", "exam.override", "command.sent"):
        store.audit.append("ada", action, "dashboard", {"addr": "198.51.100.7"})
    first = store.alerts.recent()[0]["id"]
    store.alerts.acknowledge(first, "ada")


@pytest.fixture
def pages(store, ingest, tmp_path):
    _store_site(store, ingest)
    web = make_web(store, tmp_path)
    client = web.client()
    client.headers.update(web.bearer("ada"))
    yield client
    web.close()


def test_every_event_kind_rule_and_outcome_has_a_catalogue_entry_in_both_languages() -> None:
    wanted = {f"ev_{k.value}" for k in EventKind} | {f"out_{o}" for o in ("registered", "rejected", "aborted")}
    wanted |= {f"rule_{r.value}" for r in Rule if not r.value.startswith("exam-")}
    assert wanted <= STRINGS.keys(), sorted(wanted - STRINGS.keys())
    assert all(STRINGS[k]["zh-CN"] != STRINGS[k]["en"] for k in wanted)


def test_the_ops_pages_in_chinese_show_no_key_raw_event_name_english_value_or_12_hour_time(pages) -> None:
    urls = ["/?lang=zh-CN", "/alerts?lang=zh-CN", "/audit?lang=zh-CN"]
    urls += [f"/cases/{c}?lang=zh-CN" for c in CASES] + [f"/cases?q={c}&lang=zh-CN" for c in CASES]
    seen = {}
    for url in urls:
        r = pages.get(url)
        assert r.status_code == 200, url
        seen[url] = visible_text(r.text)
        assert untranslated(seen[url]) == [], url
    case = seen["/cases/lane-01-261206-000001?lang=zh-CN"]
    assert "查验项目" in case and "业务办结" in case and "已上牌" in case and "序号" in case
    assert "退办" in seen["/cases/lane-01-261206-000002?lang=zh-CN"]
    assert "VIN 与合格证不符" in seen["/alerts?lang=zh-CN"] and "已确认" in seen["/alerts?lang=zh-CN"]
    assert "处置预警" not in seen["/audit?lang=zh-CN"] and "确认预警" in seen["/audit?lang=zh-CN"]
    assert "ada (运维管理员)" in seen["/alerts?lang=zh-CN"]
    assert "查验项目" in seen["/cases?q=lane-01-261206-000004&lang=zh-CN"]  # the open case's stage: its last event
    assert "已中止" in seen["/cases?q=lane-01-261206-000003&lang=zh-CN"]
    # alert details through the catalogue: the jam, and the link alert that cleared itself when the board came back
    alerts = seen["/alerts?lang=zh-CN"]
    assert "制牌机卡牌" in alerts and "lane-01：制牌机卡牌，制牌任务 j-1 暂停" in alerts
    assert "lane-01：I/O 控制板故障：通信中断" in alerts and "已自动解除（设备已恢复）" in alerts
    assert "link down" not in alerts and "jam (job" not in alerts
    assert "预警自动解除" in seen["/audit?lang=zh-CN"]


_FIELD = re.compile(r"\{([a-z_]+)\}")


def _sample_signals() -> list:
    """A signal of every lane rule with a detail code, as the rules make them."""
    cfg = RiskRulesConfig()

    def ev(kind: str, case: str | None = "lane-01-261206-000001", **data):
        return EventEnvelope(unit="lane-01", seq=1, ts=T0, kind=kind, case_id=case, actor="insp-7", data=data)

    events = [
        ev("case.inspected", duration_s=30),
        ev(
            "case.vin_confirmed", vin="LSVAU218XN2183294", read="LSVAU2180N21832S4", by="inspector", certificate_vin="X"
        ),
        ev("barrier.actuated", case=None, barrier="exit", state="open"),
        ev("barrier.actuated", case=None, barrier="exit", state="open", remote=True),
        ev("case.plates_issued", number="苏A12345"),
        ev("device.fault", case=None, device="io-board", detail="link down"),
        ev("device.fault", case=None, device="io-board", detail="E_PRESENCE"),
        ev("device.fault", case=None, device="plate-issuer", detail="jam (job j-1)"),
        ev("device.recovered", case=None, device="plate-issuer"),
    ]
    out = [s for e in events for s in check_event(e, None, "site-1", cfg)]
    out += [override_rate_signal("insp-7", 40, 20, cfg), failed_logins_signal("insp-7", 9, cfg)]
    out += open_case_signals(
        [{"case_id": "c", "opened_at": T0, "closed_at": None, "stage": "case.paid"}], T0 + 4000, cfg
    )
    units = [
        {"unit": "lane-01", "state": "offline", "last_seen_at": T0},
        {"unit": "lane-02", "state": "online", "last_seen_at": T0 - 900, "boards_offline": ["plate-issuer"]},
    ]
    out += offline_unit_signals(units, T0, cfg)
    out.append(case_of_another_unit_signal(ev("case.paid", case="lane-02-261206-000001"), "site-1", cfg))
    out.append(plate_issued_twice_signal("苏A12345", "c1", "c2", "site-1", "lane-01", cfg))
    return out + _exam_signals(cfg)


def _exam_signals(cfg: RiskRulesConfig) -> list:
    """A signal of every exam supervision rule (they show on the ops overview too)."""
    exam = {
        "exam_id": "e1",
        "site": "exam-1",
        "unit": "car-01",
        "status": "passed",
        "score": 90,
        "started_at": T0,
        "ended_at": T0 + 60,
        "ended_by": "completed",
        "worst_quality": "rtk_float",
    }
    found = [
        ExamFinding("started", "exam-1", "car-01", exam, id_number="110105194912310025", last_failed_at=T0 - 86400),
        ExamFinding("result", "exam-1", "car-01", exam),
        ExamFinding("result_changed", "exam-1", "car-01", exam, previous={"status": "failed", "score": 70}),
        ExamFinding("track_complete", "exam-1", "car-01", exam),
        ExamFinding("track_corrupt", "exam-1", "car-01", exam),
    ]
    out = exam_fold_signals(found, cfg)
    out.append(exam_override_signal(exam, "examiner-2", False, "left the course", cfg))
    judged = [{"site": "exam-1", "unit": u, "status": st, "signed_by": "ex-1"} for u, st in [("car-01", "failed")] * 25]
    judged += [{"site": "exam-1", "unit": "car-02", "status": "passed", "signed_by": "ex-2"} for _ in range(25)]
    out += pass_rate_signals(judged, cfg)
    out += track_missing_signals([exam | {"track_state": "pending"}], T0 + 4000, cfg)
    return out


def test_every_alert_detail_code_is_worded_in_both_languages_from_the_values_it_carries() -> None:
    signals = _sample_signals()
    codes = {s.code for s in signals if not s.clears}
    assert {"plate_jam", "device_fault", "device_fault_other", "unit_silent", "board_offline"} <= codes
    assert {"exam-too-fast", "exam-result-changed", "exam-result-overridden", "exam-pass-rate-car"} <= codes
    assert {"exam-pass-rate-examiner", "exam-track-missing", "exam-track-corrupt", "exam-retake-too-soon"} <= codes
    assert "exam-degraded-fix" in codes
    for s in signals:
        if s.clears:
            assert f"clear_{s.code}" in STRINGS, s.code
            continue
        template = STRINGS.get(f"ad_{s.code}")
        assert template is not None, s.code
        for lang in ("zh-CN", "en"):
            assert set(_FIELD.findall(template[lang])) <= set(s.values), (s.code, lang, s.values)
    for key, names in STRINGS.items():  # the two languages of a detail name the same values
        if key.startswith("ad_"):
            assert set(_FIELD.findall(names["zh-CN"])) == set(_FIELD.findall(names["en"])), key


def test_an_alert_detail_reads_in_the_page_language_with_site_time() -> None:
    """The alerts page words a detail from its values: catalogue words for devices and faults, durations in the site's
    time (a 30 s inspection at a 60x simulated site took 30 simulated minutes)."""
    zh, en = strings("zh-CN"), strings("en")
    jam = {"code": "plate_jam", "values": {"unit": "lane-01", "job": "j-9"}, "detail": "English"}
    assert alert_text(jam, zh) == "lane-01：制牌机卡牌，制牌任务 j-9 暂停，待取出卡住的号牌"
    short = {
        "code": "inspection_too_short",
        "values": {"case": "c1", "duration_s": 30.0, "min_s": 120.0, "inspector": "insp-7"},
    }
    assert alert_text(short, en) == "case c1: inspection took 30s, under 2m (inspector insp-7)"
    assert alert_text(short, zh, time_scale=60.0) == "业务 c1：查验用时 30分，少于 2时00分（查验员 insp-7）"
    assert alert_text({"code": None, "detail": "as stored"}, zh) == "as stored"  # an alert from before codes


def test_the_check_finds_what_an_untranslated_page_would_show(pages) -> None:
    """The same pages in English: the search above is not blind (it finds raw values once untranslated)."""
    text = visible_text(pages.get("/cases/lane-01-261206-000002?lang=en").text)
    assert "rejected" in untranslated(text)
    assert untranslated("case.inspection_item 5:20:57 PM out_registered") == [
        "case.inspection_item",
        "out_registered",
        "PM",
    ]
