"""Personal data on the ops case pages and the case API: masked for every role by default, unmasked only for a role
with `Perm.PERSONAL_DATA` (ops-admin) through an explicit POST, and every unmasked view is in the audit log."""

from __future__ import annotations

import re

import pytest
from test_case_pages import ADDRESS, ID_NUMBER, OWNER, PHONE, seed_cases
from web_helpers import make_web, sign_in

from cloud_bridge.auth import GRANTS, Perm, Role
from cloud_bridge.case_view import mask_id_number, mask_personal, mask_phone, reduce_address

CASE = "lane-01-261203-00a001"  # registered, with the owner's partner records in its timeline
SECRETS = [ID_NUMBER, PHONE, "中山路88号", OWNER, "1985-03-12"]
MASKED = ["3201**********0386", "134****2064", "江苏省南京市玄武区 ***", "张**", "1985-**-**"]


def test_the_masks_keep_only_what_tells_cases_apart() -> None:
    assert mask_id_number("320102198503120386") == "3201**********0386"
    assert mask_phone("13412342064") == "134****2064"
    assert reduce_address("江苏省南京市玄武区中山路88号") == "江苏省南京市玄武区 ***"
    assert reduce_address("上海市浦东新区世纪大道100号") == "上海市浦东新区 ***"
    assert reduce_address("Flat 3, 12 High Street") == "***"
    assert mask_id_number("1234") == "****" and mask_phone("110") == "***"


def test_every_personal_field_is_masked_wherever_a_lane_nests_it() -> None:
    case = {
        "id_number": ID_NUMBER,
        "owner_name": OWNER,
        "timeline": [
            {"kind": "case.opened", "data": {"id_number": ID_NUMBER, "booking_number": "B-1"}},
            {
                "kind": "case.partner_records",
                "data": {
                    "records": {
                        "owner": {"name": OWNER, "phone": PHONE, "address": ADDRESS, "birth_date": "1985-03-12"},
                        "vehicle": {"owner_id_number": ID_NUMBER, "certificate": {"name": "not a person"}},
                    }
                },
            },
        ],
    }
    masked = mask_personal(case)
    text = repr(masked)
    assert not any(s in text for s in SECRETS), text
    assert all(m in text for m in MASKED), text
    assert masked["timeline"][1]["data"]["records"]["vehicle"]["certificate"]["name"] == "not a person"
    assert masked["timeline"][0]["data"]["booking_number"] == "B-1"
    assert case["id_number"] == ID_NUMBER  # a copy: the stored case is untouched


def test_only_the_admin_role_may_see_personal_data() -> None:
    assert GRANTS[Perm.PERSONAL_DATA] == frozenset({Role.OPS_ADMIN})


@pytest.fixture
def web(store, ingest, tmp_path):
    seed_cases(ingest)
    w = make_web(store, tmp_path)
    yield w
    w.close()


def _views(web) -> list[dict]:
    return [r for r in web.store.audit.entries() if r["action"] == "case.personal_data_view"]


@pytest.mark.parametrize("user", ["ada", "vic"])
def test_every_role_sees_the_case_pages_masked(web, user: str) -> None:
    c = web.client()
    c.headers.update(web.bearer(user))
    for url in (f"/cases/{CASE}", f"/cases/{CASE}?lang=en", "/cases", f"/cases?q={ID_NUMBER}"):
        html = c.get(url).text
        assert not any(s in html.replace(f"q={ID_NUMBER}", "").replace(f'value="{ID_NUMBER}"', "") for s in SECRETS)
    page = c.get(f"/cases/{CASE}").text
    assert all(m in page for m in MASKED), [m for m in MASKED if m not in page]
    assert ('id="show-personal"' in page) == (user == "ada")  # the action is offered only to a role that may use it
    assert CASE in c.get("/cases", params={"q": ID_NUMBER}).text  # an exact ID number still finds the case
    assert _views(web) == []


@pytest.mark.parametrize("user", ["ada", "vic"])
def test_the_case_api_never_leaks_personal_data(web, user: str) -> None:
    c = web.client()
    h = web.bearer(user)
    for url in (f"/api/cases/{CASE}", "/api/cases", f"/api/cases?q={ID_NUMBER}", "/api/cases?outcome=open"):
        r = c.get(url, headers=h)
        assert r.status_code == 200
        assert not any(s in r.text for s in SECRETS), (url, [s for s in SECRETS if s in r.text])
    case = c.get(f"/api/cases/{CASE}", headers=h).json()
    assert case["id_number"] == "3201**********0386" and case["owner_name"] == "张**"
    assert c.get("/api/cases", params={"q": ID_NUMBER}, headers=h).json()["cases"][0]["id_number"] == MASKED[0]


def test_the_admin_unmasks_a_case_page_by_an_explicit_action_which_is_audited(web) -> None:
    c = web.client()
    assert sign_in(c, "ada").status_code == 303
    page = c.get(f"/cases/{CASE}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert c.post(f"/cases/{CASE}/personal-data", data={"reason": "owner's complaint"}).status_code == 403  # no CSRF
    assert _views(web) == []
    shown = c.post(f"/cases/{CASE}/personal-data", data={"csrf": csrf, "reason": "owner's complaint"})
    assert shown.status_code == 200
    assert all(s in shown.text for s in SECRETS) and 'id="unmasked-note"' in shown.text
    (entry,) = _views(web)
    assert entry["actor"] == "ada" and entry["target"] == f"case/{CASE}"
    assert '"reason": "owner\'s complaint"' in entry["detail"] or "owner's complaint" in str(entry["detail"])
    assert web.store.audit.verify() == []
    assert ID_NUMBER not in c.get(f"/cases/{CASE}").text  # the next plain view is masked again
    audit_page = c.get("/audit?lang=zh-CN").text
    assert "查看个人信息" in audit_page


@pytest.mark.parametrize("user", ["vic", "eve"])
def test_roles_without_the_permission_cannot_unmask_and_nothing_is_audited(web, user: str) -> None:
    c = web.client()
    h = web.bearer(user)
    assert c.post(f"/cases/{CASE}/personal-data", headers=h).status_code == 403
    assert c.post(f"/api/cases/{CASE}/personal-data", headers=h, json={"reason": "curious"}).status_code == 403
    assert _views(web) == []


def test_the_api_unmasks_for_the_admin_and_audits_each_call(web) -> None:
    c = web.client()
    h = web.bearer("ada")
    r = c.post(f"/api/cases/{CASE}/personal-data", headers=h, json={"reason": "police request 17"})
    assert r.status_code == 200 and r.json()["id_number"] == ID_NUMBER and PHONE in r.text
    c.post(f"/api/cases/{CASE}/personal-data", headers=h)
    views = _views(web)
    assert len(views) == 2 and all(v["actor"] == "ada" for v in views)
    assert c.post("/api/cases/lane-09-261206-00ffff/personal-data", headers=h).status_code == 404
    assert len(_views(web)) == 2  # an unknown case shows nothing and audits nothing
    assert c.post(f"/api/cases/{CASE}/personal-data", headers=h, json={"why": "x"}).status_code == 422


@pytest.mark.parametrize("user", ["ada", "vic"])
def test_the_unit_events_api_masks_personal_data_too(web, user: str) -> None:
    """The raw event pages carry the partner records and the owner's ID number: masked there as well."""
    c = web.client()
    r = c.get(f"/api/units/{CASE.rsplit('-', 2)[0]}/events", headers=web.bearer(user))
    assert r.status_code == 200 and r.json(), r.text
    assert not any(s in r.text for s in SECRETS), [s for s in SECRETS if s in r.text]
    assert MASKED[0] in r.text


def test_the_admin_reads_a_units_events_unmasked_and_each_page_is_audited(web) -> None:
    c = web.client()
    page = c.get("/api/units/lane-01/events/unmasked", headers=web.bearer("ada"))
    assert page.status_code == 200 and ID_NUMBER in page.text
    views = [r for r in web.store.audit.entries() if r["action"] == "unit.events_personal_view"]
    assert len(views) == 1 and views[0]["target"] == "unit/lane-01" and views[0]["actor"] == "ada"
    refused = c.get("/api/units/lane-01/events/unmasked", headers=web.bearer("vic"))
    assert refused.status_code == 403 and ID_NUMBER not in refused.text
    assert len([r for r in web.store.audit.entries() if r["action"] == "unit.events_personal_view"]) == 1
