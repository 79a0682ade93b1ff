"""The tablet's HTTP API (the same endpoints the pages and the site demo use), with sign-in and attribution."""

from __future__ import annotations

import pytest
from lane_helpers import lane_config, seed_kept_for_review, show_vin, wait_until
from starlette.testclient import TestClient

from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading
from lane_controller.web import create_app

pytestmark = pytest.mark.broker


def _lane(tmp_path, mqtt_broker, site_pki, cloud, boards, reader: VinReading | None = None) -> Lane:
    io, issuer = boards
    cfg = lane_config(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    return Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=reader or VinReading(load=False))


@pytest.fixture
def client(request, tmp_path, mqtt_broker, site_pki, cloud, boards):
    """The tablet app on a lane without the VIN reader, or with it when the test is parametrised `client=True`."""
    reader = VinReading(load=True) if getattr(request, "param", False) else None
    lane = _lane(tmp_path, mqtt_broker, site_pki, cloud, boards, reader)
    with TestClient(create_app(lane)) as c:
        c.lane = lane
        c.world = boards[0].control()
        c.cloud = cloud
        c.camera = tmp_path / "camera"
        yield c


def test_actions_need_a_signed_in_inspector_and_a_wrong_pin_is_refused(client):
    assert client.post("/api/cases", json={"station": "A", "id_number": "1"}).status_code == 401
    assert client.post("/api/session", json={"inspector_id": "insp-1", "pin": "0000"}).status_code == 401
    assert client.get("/").status_code == 200 and "/login" in str(client.get("/").url)
    kinds = [e["kind"] for e in client.lane.journal.events()]
    assert "inspector.sign_in_failed" in kinds


def test_a_whole_case_through_the_http_api_is_attributed_to_the_inspector(client):
    r = client.post("/api/session", json={"inspector_id": "insp-1", "pin": "1234"})
    assert r.status_code == 200 and r.json()["token"]

    def case():
        return client.get(f"/api/cases/{cid}").json()["case"]

    vehicle = client.cloud.good[0]
    cid = client.post("/api/cases", json={"station": "A", "id_number": vehicle.owner_id_number}).json()["case"][
        "case_id"
    ]
    r = client.post("/api/cases", json={"station": "A", "id_number": "2"})
    assert r.status_code == 409 and "already has open case" in r.json()["error"]
    wait_until(lambda: case()["stage"] == "records_fetched", 10, "records")
    assert client.post(f"/api/cases/{cid}/issue").status_code == 409
    show_vin(client.camera, vehicle.vin)  # the camera sees the car that will stand at the station
    assert client.post(f"/api/cases/{cid}/admit").json()["ok"]
    client.world.vehicle_pass("entry")
    wait_until(lambda: case()["vin_read"] is not None, 20, "VIN read")
    c = case()
    assert c["vin_needs_review"]  # no reader loaded: the inspector reviews
    assert "off" in client.get("/api/lane").json()["camera"]["reader"]  # and the tablet says the reader is off
    r = client.post(f"/api/cases/{cid}/vin/confirm", json={"vin": c["certificate_vin"]})
    assert r.status_code == 409 and "reason" in r.json()["error"]
    assert client.post(
        f"/api/cases/{cid}/vin/confirm", json={"vin": c["certificate_vin"], "reason": "read by eye"}
    ).json()["ok"]
    for item in c["checklist"]:
        assert client.post(f"/api/cases/{cid}/items", json={"item": item, "result": "pass"}).json()["ok"]
    assert client.post(
        f"/api/cases/{cid}/photos/0111", files={"file": ("p.jpg", b"\xff\xd8\xff", "image/jpeg")}
    ).json()["ok"]
    assert client.post(f"/api/cases/{cid}/photos/0113").json()["ok"]  # the station camera
    assert client.post(f"/api/cases/{cid}/conclude").json()["ok"]
    wait_until(lambda: case()["plate_options"], 10, "plate options")
    assert (
        client.post(f"/api/cases/{cid}/plate", json={"number": "AB12I", "composed": True}).status_code == 409
    )  # I is not used
    assert client.post(f"/api/cases/{cid}/plate", json={"number": case()["plate_options"][0]}).json()["ok"]
    wait_until(lambda: case()["stage"] == "plates_issued", 60, "paid and issued")
    assert client.post(f"/api/cases/{cid}/fitted").json()["ok"]
    assert client.post(f"/api/cases/{cid}/exit").json()["ok"]
    client.world.vehicle_pass("exit")
    wait_until(lambda: case()["stage"] == "closed", 20, "exit passage")
    page = client.get(f"/cases/{cid}")
    assert page.status_code == 200 and cid in page.text
    actors = {e["kind"]: e["actor"] for e in client.lane.journal.case_events(cid)}
    assert (
        actors["case.opened"] == "insp-1"
        and actors["case.plates_fitted"] == "insp-1"
        and actors["case.paid"] == "cloud"
    )
    overview = client.get("/fragments/overview")
    assert overview.status_code == 200 and 'id="reader-off"' in overview.text  # the tablet says the reader is off


def test_an_inspector_can_confirm_a_passage_the_loop_did_not_report(tmp_path, mqtt_broker, site_pki, cloud, boards):
    """The loop misses the car (the world moves none over it): the inspector saw it pass and says so."""
    lane = _lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
    world = boards[0].control()
    booking = next(v.booking_number for v in cloud.good if v.booking_number)
    with TestClient(create_app(lane)) as client:
        client.post("/api/session", json={"inspector_id": "insp-2", "pin": "5678"})
        cid = client.post("/api/cases", json={"station": "A", "booking_number": booking}).json()["case"]["case_id"]
        wait_until(lambda: client.get(f"/api/cases/{cid}").json()["case"]["stage"] == "records_fetched", 10, "records")
        assert client.post(f"/api/cases/{cid}/passed", json={"barrier": "entry"}).status_code == 409  # not admitted yet
        client.post(f"/api/cases/{cid}/admit")
        r = client.post(f"/api/cases/{cid}/passed", json={"barrier": "entry"})
        assert r.json()["case"]["stage"] == "admitted"

        def entry_events() -> list[str]:
            return [
                e["event"]
                for e in world.world_log()
                if e.get("barrier") == "entry" and e["event"] in ("arm_opening", "arm_closed")
            ]

        wait_until(
            lambda: entry_events()[-2:] == ["arm_opening", "arm_closed"],
            20,
            "entry opened, then closed after the confirmed passage",
        )
        ev = [e for e in lane.journal.case_events(cid) if e["kind"] == "case.admitted"]
        assert ev[0]["actor"] == "insp-2"


@pytest.mark.parametrize("client", [True], indirect=True)
def test_the_case_page_shows_the_verdict_against_the_certificate_vin_and_both_vins_aligned(client):
    """With the certificate's VIN known the lane verifies it (vision/verify.py): the page an inspector
    sees gives the verdict in the tablet's default language and the aligned comparison."""
    from lane_controller.i18n import STRINGS

    assert client.post("/api/session", json={"inspector_id": "insp-1", "pin": "1234"}).status_code == 200
    vehicle = client.cloud.good[0]
    reader = client.lane.reader
    seed = seed_kept_for_review(reader, vehicle.vin)
    cid = client.post("/api/cases", json={"station": "A", "id_number": vehicle.owner_id_number}).json()["case"][
        "case_id"
    ]
    wait_until(lambda: client.get(f"/api/cases/{cid}").json()["case"]["stage"] == "records_fetched", 10, "records")
    show_vin(client.camera, vehicle.vin, seed)
    assert client.post(f"/api/cases/{cid}/admit").json()["ok"]
    client.world.vehicle_pass("entry")
    wait_until(lambda: client.get(f"/api/cases/{cid}").json()["case"]["vin_read"] is not None, 60, "VIN read")
    case = client.get(f"/api/cases/{cid}").json()["case"]
    check = case["vin_read"]["verification"]
    assert check["expected"] == vehicle.vin and len(check["chars"]) == 17
    assert (case["stage"] == "vin_confirmed") == (check["decision"] == "match")
    page = client.get(f"/cases/{cid}").text
    assert 'id="vin-verdict"' in page and STRINGS[f"verdict_{check['decision']}"]["zh-CN"] in page
    assert 'id="vin-compare"' in page
