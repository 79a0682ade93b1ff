"""The tablet in zh-CN says every value in Chinese: no catalogue key, raw event name, English value word or AM/PM.

A whole case runs through the tablet API (registered), a device alert is raised, and the overview and the case page
are rendered by the app; their visible text (outside <code>: VINs) is searched."""

from __future__ import annotations

import page_text
import pytest
from lane_helpers import lane_config, show_vin, wait_until
from page_text import untranslated_finder
from starlette.testclient import TestClient

from edge.contract import EventKind
from lane_controller.hardware import BoardHardware
from lane_controller.i18n import EVENTS, STAGES, STRINGS, VALUES, translate_device_message, translate_reason
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading
from lane_controller.web import create_app

# the English words of the values the tablet shows (record states, VIN decisions, outcomes, stages, event kinds)
ENGLISH_VALUES = {e["en"].lower() for table in (VALUES, STAGES, EVENTS) for e in table.values()} - {"vin", "nev"}
untranslated = untranslated_finder(
    STRINGS, ENGLISH_VALUES, ("case", "exam", "device", "barrier", "inspector", "command", "event")
)


def visible_text(html: str) -> str:
    """No tags, attributes or scripts, nor <code> (VINs, payment links)."""
    return page_text.visible_text(html, skip_tags=("script", "style", "code"))


def test_every_event_kind_has_a_catalogue_entry_and_device_messages_are_said_in_chinese() -> None:
    assert {k.value for k in EventKind} == EVENTS.keys()
    assert translate_device_message("io-board: link down", "zh-CN") == "I/O 板：通信中断"
    assert translate_device_message("io-board: link down", "en") == "io-board: link down"
    assert translate_device_message("plate-issuer: could not start: boom", "zh-CN") == "制牌机：无法启动：boom"
    assert translate_device_message("plate-issuer: job interrupted: jam", "zh-CN") == "制牌机：制牌任务已中断：卡牌"
    assert translate_reason("plate issuer: job interrupted: jam", "zh-CN") == "制牌：制牌任务已中断：卡牌"
    assert translate_reason("plate issuer: printing, 1 plate(s) done", "zh-CN") == "制牌：印制中，已完成 1 块"
    assert (
        translate_reason("plate issuer: printing, 1 plate(s) done", "en") == "plate issuer: printing, 1 plate(s) done"
    )
    assert untranslated("case.inspection_item · registered 5:20:57 PM") == ["case.inspection_item", "registered", "PM"]


@pytest.mark.broker
def test_the_tablet_in_chinese_shows_no_key_raw_event_name_english_value_or_12_hour_time(
    tmp_path, mqtt_broker, site_pki, cloud, boards
) -> None:
    io, issuer = boards
    cfg = lane_config(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
    world = boards[0].control()
    with TestClient(create_app(lane)) as client:
        client.cookies.set("lang", "zh-CN")
        assert client.post("/api/session", json={"inspector_id": "insp-1", "pin": "1234"}).status_code == 200
        vehicle = cloud.good[0]
        cid = client.post("/api/cases", json={"station": "A", "id_number": vehicle.owner_id_number}).json()["case"][
            "case_id"
        ]

        def case():
            return client.get(f"/api/cases/{cid}").json()["case"]

        wait_until(lambda: case()["stage"] == "records_fetched", 10, "records")
        show_vin(tmp_path / "camera", vehicle.vin)
        client.post(f"/api/cases/{cid}/admit")
        world.vehicle_pass("entry")
        wait_until(lambda: case()["vin_read"] is not None, 20, "VIN read")
        c = case()
        body = {"vin": c["certificate_vin"], "reason": "checked on the vehicle"}
        assert client.post(f"/api/cases/{cid}/vin/confirm", json=body).json()["ok"]
        for item in c["checklist"]:
            client.post(f"/api/cases/{cid}/items", json={"item": item, "result": "pass"})
        client.post(f"/api/cases/{cid}/photos/0111", files={"file": ("p.jpg", b"\xff\xd8\xff", "image/jpeg")})
        client.post(f"/api/cases/{cid}/photos/0113")
        assert client.post(f"/api/cases/{cid}/conclude").json()["ok"]
        wait_until(lambda: case()["plate_options"], 10, "plate options")
        client.post(f"/api/cases/{cid}/plate", json={"number": case()["plate_options"][0]})
        wait_until(lambda: case()["stage"] == "plates_issued", 60, "paid and issued")
        client.post(f"/api/cases/{cid}/fitted")
        client.post(f"/api/cases/{cid}/exit")
        world.vehicle_pass("exit")
        wait_until(lambda: case()["stage"] == "closed", 20, "exit passage")
        client.portal.call(lane.alert, "device:io-board", "io-board: link down")  # on the app's event loop
        pages = {url: visible_text(client.get(url).text) for url in ("/", f"/cases/{cid}", "/fragments/overview")}
        client.post("/api/session", json={}).status_code  # noqa: B018 - a refusal flashed in the tablet's words
        refusal = client.post("/api/session", json={"inspector_id": "insp-1", "pin": "0000"}).json()["error"]
    for url, text in pages.items():
        assert untranslated(text) == [], url
    page = pages[f"/cases/{cid}"]
    assert "已上牌" in page and "查验项目" in page and "已在车上核对" in page and "业务办结" in page
    assert "已缴纳" in page or "免征" in page
    assert "I/O 板：通信中断" in pages["/"] and "制牌机" in pages["/"] and "plate-issuer" not in pages["/"]
    assert "系统" in page and "云端" in page
    assert refusal == "查验员编号或 PIN 码错误"
