"""The exam console's pages without a browser: who may open them, where the signed-out and the exam operator land,
every word they show in both languages, and no inline script (the Content-Security-Policy forbids it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bridge_helpers import make_settings
from fastapi.testclient import TestClient
from test_exam_helpers import Car, exam_id_of, inbound, online

from cloud_bridge.app import create_app
from cloud_bridge.auth import hash_password
from cloud_bridge.i18n import LANGS, STRINGS
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import open_store

PASSWORD = "correct horse battery"
BRIDGE = Path(__file__).resolve().parents[2] / "cloud_bridge"
PAGES = ("exam_console.html", "exam_result.html", "dashboard.html", "base.html")
SCRIPTS = ("exam_common.js", "exam_console.js", "exam_result.js", "dashboard.js")
ITEMS = ("reverse_into_bay", "hill_stop_and_start", "parallel_park", "s_curve", "right_angle_turn", "general")
QUALITIES = ("invalid", "gps", "dgps", "rtk_float", "rtk_fixed", "dead_reckoning")
EXAM_STATUSES = ("running", "passed", "failed", "invalid", "interrupted")
CANDIDATE_STATUSES = ("booked", "checked_in", "examining", "done")


EXAM = exam_id_of("car-01", 1)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("exam-pages")
    store = open_store(str(tmp / "b.sqlite3"))
    store.migrate()
    for name, role in (("ada", "ops-admin"), ("vic", "ops-viewer"), ("eve", "exam-operator")):
        store.accounts.add_user(name, role, hash_password(PASSWORD))
    car = Car(tmp, "car-01")  # one exam judged on a car, as its unit sends it
    IngestService(store, RiskRulesConfig()).ingest([online("car-01"), *inbound(car.exam(EXAM))])
    car.close()
    yield create_app(make_settings(str(tmp / "b.sqlite3")), store=store)
    store.close()


def _signed_in(app, name: str) -> TestClient:
    client = TestClient(app)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    return client


@pytest.mark.parametrize("path", ["/exam", f"/exam/exams/{EXAM}"])
def test_exam_pages_send_the_signed_out_to_sign_in(app, path: str) -> None:
    r = TestClient(app).get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_an_ops_viewer_cannot_open_the_console_and_reads_a_result_without_the_sign_off_forms(app) -> None:
    client = _signed_in(app, "vic")
    assert client.get("/exam", follow_redirects=False).status_code == 403
    result = client.get(f"/exam/exams/{EXAM}")
    assert result.status_code == 200
    assert 'id="sign-form"' not in result.text and 'id="override-form"' not in result.text
    assert 'href="/exam"' not in result.text  # no console link in the viewer's navigation


@pytest.mark.parametrize("name", ["eve", "ada"])
def test_exam_operator_and_ops_admin_open_the_console_with_its_scripts_and_no_inline_script(app, name: str) -> None:
    client = _signed_in(app, name)
    page = client.get("/exam")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert [attrs.strip() for attrs, _ in scripts] == [
        'src="/static/exam_common.js"',
        'src="/static/exam_console.js"',
    ]
    assert all(body.strip() == "" for _, body in scripts)
    assert not re.search(r"\son[a-z]+=", page.text), "an event-handler attribute in the page"
    assert 'href="/exam" id="nav-exam"' in page.text
    result = client.get(f"/exam/exams/{EXAM}")
    assert result.status_code == 200 and f'data-exam="{EXAM}"' in result.text
    assert 'id="sign-form"' in result.text and 'id="override-form"' in result.text


def test_an_unknown_exam_has_no_result_page(app) -> None:
    assert _signed_in(app, "eve").get(f"/exam/exams/{exam_id_of('car-01', 99)}").status_code == 404


def test_exam_operator_lands_on_the_console_after_sign_in_and_sees_no_ops_links(app) -> None:
    client = _signed_in(app, "eve")
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/exam"
    page = client.get("/exam").text
    assert 'href="/cases"' not in page and 'href="/alerts"' not in page
    assert client.get("/api/dashboard").status_code == 403  # the lanes' figures stay the ops roles'


def test_exam_pages_speak_chinese_by_default_and_english_on_request(app) -> None:
    client = _signed_in(app, "eve")
    zh = client.get("/exam").text
    assert "今日考生" in zh and "考场实时地图" in zh and '<html lang="zh-CN">' in zh
    en = client.get("/exam?lang=en").text
    assert "Import candidates (CSV)" in en and "Live course map" in en and '<html lang="en">' in en
    assert "今日考生" not in en


def test_every_word_the_exam_pages_and_scripts_use_is_in_the_catalogue_in_both_languages() -> None:
    used: set[str] = set()
    for name in PAGES:
        used |= set(re.findall(r"\bt\.(\w+)", (BRIDGE / "templates" / name).read_text()))
    for name in SCRIPTS:
        src = (BRIDGE / "static" / name).read_text()
        used |= set(re.findall(r"""\bt\(\s*"(\w+)"\s*[,)]""", src))
        used |= set(re.findall(r"""\bT\.(\w+)""", src))
        used |= set(re.findall(r"""["'](exam_\w*[a-z0-9])["']""", src))  # keys named in tables (refusals, row errors)
    # keys the scripts build from data: items, fix qualities, exam and candidate statuses
    used |= {f"exam_item_{i}" for i in ITEMS} | {f"exam_fix_{q}" for q in QUALITIES}
    used |= {f"exam_st_{s}" for s in EXAM_STATUSES} | {f"exam_cand_{s}" for s in CANDIDATE_STATUSES}
    used |= {f"exam_ended_{e}" for e in ("completed", "disqualified", "finished", "invalid")}
    missing = sorted(k for k in used if k not in STRINGS)
    assert missing == [], f"words without a catalogue entry: {missing}"
    for key in used:
        assert all(STRINGS[key].get(lang) for lang in LANGS), f"{key} lacks a language"


def test_the_exam_console_block_of_the_catalogue_is_one_delimited_block() -> None:
    src = (BRIDGE / "i18n.py").read_text()
    assert src.count("# exam console") == 2
    block = src.split("# exam console")[1]
    keys = re.findall(r'^\s+"(\w+)": \{', block, re.M)
    assert keys and all(k.startswith("exam_") for k in keys)
