"""The ops pages in zh-CN say every value in Chinese: no catalogue key, raw event name, English value word or AM/PM.

The cases (registered, rejected, aborted, one still open) and alerts are stored through the ingest and the alert
store, then every page is rendered by the app and its visible text (outside code cells: VINs, hashes, event data)
is searched."""

from __future__ import annotations

import time

import page_text
import pytest
from page_text import untranslated_finder
from web_helpers import make_web

from cloud_bridge.i18n import STRINGS
from cloud_bridge.ingest import classify
from cloud_bridge.rules import RiskRulesConfig, Rule, alert_signal
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


def _store_site(store, ingest) -> None:
    seq = 1
    for case, kinds in CASES.items():
        events = [
            EventEnvelope(unit="lane-01", seq=seq + i, ts=T0 + 60 * i, kind=k, case_id=case, actor="insp-7", data=d)
            for i, (k, d) in enumerate(kinds)
        ]
        ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), time.time()) for e in events])
        seq += len(kinds)
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


def test_the_check_finds_what_an_untranslated_page_would_show(pages) -> None:
    """The same pages in English: the search above is not blind (it finds raw values once untranslated)."""
    text = visible_text(pages.get("/cases/lane-01-261206-000002?lang=en").text)
    assert "rejected" in untranslated(text)
    assert untranslated("case.inspection_item 5:20:57 PM out_registered") == [
        "case.inspection_item",
        "out_registered",
        "PM",
    ]
