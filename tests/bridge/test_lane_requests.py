"""Lanes' look-ups over MQTT v5 request/response: partner records, plate numbers, payments, case state."""

from __future__ import annotations

import pytest
from bridge_helpers import PAYMENT_KEY, case_of, make_settings, wait_for
from fastapi.testclient import TestClient

from cloud_bridge import payments
from cloud_bridge.reference import generate, load_into
from cloud_bridge.runner import Bridge

pytestmark = pytest.mark.broker


@pytest.fixture
def bridge(db_url, mqtt_broker, site_pki, payment_key_file):
    b = Bridge(make_settings(db_url, broker=mqtt_broker, pki=site_pki, key_file=payment_key_file), sweep_s=3600).start()
    wait_for(lambda: all(w.subscribed.is_set() for w in b.workers), 30, "bridge subscribed")
    data, problems = generate(40, seed=7)
    load_into(b.store, data)
    b.data, b.problems = data, problems
    yield b
    b.stop()


def test_partner_lookup_by_id_number_and_booking_number(bridge, lane_factory) -> None:
    lane = lane_factory("lane-01")
    v = bridge.data.vehicles[0]
    c = case_of("lane-01", 1)
    r = lane.request("partner.lookup", {"id_number": v.owner_id_number}, case_id=c)
    assert r.ok and r.body["owner"]["id_number"] == v.owner_id_number
    got = next(x for x in r.body["vehicles"] if x["vin"] == v.vin)
    assert {"certificate", "purchase_tax", "insurance", "plate_kind", "issues"} <= set(got)
    r2 = lane.request("partner.lookup", {"booking_number": v.booking_number}, case_id=c)
    assert r2.ok and [x["vin"] for x in r2.body["vehicles"]] == [v.vin]
    missing = lane.request("partner.lookup", {"id_number": "110101199003074514"}, case_id=c)
    assert not missing.ok and missing.error == "not_found"


def test_plate_options_reserve_release_and_uniqueness_across_lanes(bridge, lane_factory) -> None:
    a, b = lane_factory("lane-01"), lane_factory("lane-02")
    ca, cb = case_of("lane-01", 1), case_of("lane-02", 1)
    opts = a.request("plate.options", {"case_id": ca, "authority": "苏A", "plate_kind": "ordinary", "count": 50})
    assert opts.ok and len(opts.body["numbers"]) == 50 and len(set(opts.body["numbers"])) == 50
    number = opts.body["numbers"][0]
    assert a.request(
        "plate.reserve", {"case_id": ca, "authority": "苏A", "number": number, "plate_kind": "ordinary"}
    ).ok
    clash = b.request(
        "plate.reserve",
        {"case_id": cb, "authority": "苏A", "number": number, "plate_kind": "ordinary", "composed": True},
    )
    assert not clash.ok and clash.error == "taken"
    assert number not in b.request("plate.options", {"case_id": cb, "count": 200}).body["numbers"]
    assert a.request("plate.release", {"case_id": ca, "number": number}).body["released"] is True
    assert b.request(
        "plate.reserve",
        {"case_id": cb, "authority": "苏A", "number": number, "plate_kind": "ordinary", "composed": True},
    ).ok


def test_composed_numbers_are_checked_against_format_and_local_rules(bridge, lane_factory) -> None:
    lane = lane_factory("lane-01")
    c1 = case_of("lane-01", 1)
    ok = lane.request(
        "plate.reserve",
        {"case_id": c1, "authority": "苏A", "number": "苏A8K2M88", "plate_kind": "ordinary", "composed": True},
    )
    assert not ok.ok and ok.error == "bad_format"  # 6 characters on a blue plate
    too_many_letters = lane.request(
        "plate.reserve",
        {"case_id": c1, "authority": "苏A", "number": "苏AKXM88", "plate_kind": "ordinary", "composed": True},
    )
    assert not too_many_letters.ok and too_many_letters.error == "local_rule"
    has_o = lane.request(
        "plate.reserve",
        {"case_id": c1, "authority": "苏A", "number": "苏A0O123", "plate_kind": "ordinary", "composed": True},
    )
    assert not has_o.ok
    ne = lane.request(
        "plate.reserve",
        {"case_id": c1, "authority": "苏A", "number": "苏AD12345", "plate_kind": "new-energy", "composed": True},
    )
    assert ne.ok and ne.body["number"] == "苏AD12345"
    other = lane.request(
        "plate.reserve", {"case_id": c1, "authority": "京A", "number": "京A12345", "plate_kind": "ordinary"}
    )
    assert not other.ok and other.error == "unknown_authority"


def test_payment_start_callback_marks_paid_and_tells_the_lane_once(bridge, lane_factory) -> None:
    lane = lane_factory("lane-01")
    pay1 = case_of("lane-01", 0x9A1)
    lane.publish_event(lane.event(1, "case.opened", pay1))
    refused = lane.request("payment.start", {"case_id": pay1, "items": ["plate", "licence"]})
    assert not refused.ok and refused.error == "no_plate"  # nothing reserved to pay for yet
    assert lane.request(
        "plate.reserve",
        {"case_id": pay1, "authority": "苏A", "number": "苏A7P135", "plate_kind": "ordinary", "composed": True},
    ).ok
    start = lane.request("payment.start", {"case_id": pay1, "items": ["plate", "licence"]})
    assert start.ok and start.body["amount_cents"] == 11000 and start.body["pay_url"].endswith(start.body["payment_id"])
    client = TestClient(bridge.app())
    body = payments.callback_body(start.body["payment_id"], 11000)
    sig = payments.sign(PAYMENT_KEY, body)
    r = client.post("/api/payments/notify", content=body, headers={payments.HEADER: sig})
    assert r.status_code == 200 and r.json()["already_paid"] is False
    wait_for(lambda: lane.notifications, 30, "payment.confirmed")
    assert (
        lane.notifications[0]["kind"] == "payment.confirmed"
        and lane.notifications[0]["data"]["payment_id"] == start.body["payment_id"]
    )
    # the same callback again is a replay; a fresh one for the same payment is idempotent
    assert client.post("/api/payments/notify", content=body, headers={payments.HEADER: sig}).status_code == 409
    again = client.post(
        "/api/payments/notify", content=body, headers={payments.HEADER: payments.sign(PAYMENT_KEY, body)}
    )
    assert again.status_code == 200 and again.json()["already_paid"] is True
    state = lane.request("case.state", {"case_id": pay1})
    assert state.ok and state.body["paid"] is True
    assert len(lane.notifications) == 1


def test_plate_issued_event_takes_the_number_for_good_and_a_second_issue_alerts(bridge, lane_factory) -> None:
    a, b = lane_factory("lane-01"), lane_factory("lane-02")
    i1, i2 = case_of("lane-01", 0x11), case_of("lane-02", 0x12)
    assert a.request(
        "plate.reserve",
        {"case_id": i1, "authority": "苏A", "number": "苏A3K721", "plate_kind": "ordinary", "composed": True},
    ).ok
    payment = bridge.store.payments.create(i1, "lane-01", "site-1", 100, ["plate"])
    bridge.store.payments.mark_paid(payment["payment_id"])
    a.publish_event(a.event(1, "case.plates_issued", i1, number="苏A3K721"))
    wait_for(lambda: a.acked == 1, 30, "issued event stored")
    assert [p["status"] for p in bridge.store.plates.numbers(i1)] == ["issued"]
    b.publish_event(b.event(1, "case.plates_issued", i2, number="苏A3K721"))
    wait_for(lambda: b.acked == 1, 30, "second issue stored")
    rules = {a["rule"] for a in bridge.store.alerts.recent("active")}
    assert "plate_issued_twice" in rules and "plate_without_payment" in rules  # i-2 never paid either
    assert bridge.store.plates.numbers(i1)[0]["status"] == "issued" and not bridge.store.plates.numbers(i2)


def test_expired_requests_get_no_answer(bridge, lane_factory) -> None:
    import time

    from edge.contract import Leaf, Request

    lane = lane_factory("lane-01")
    x = case_of("lane-01", 0xE1)
    old = Request(
        unit="lane-01", kind="case.state", body={"case_id": x}, ts=time.time() - 60, expires_at=time.time() - 30
    )
    lane.publish_raw(Leaf.REQ, old.to_bytes())
    fresh = lane.request(
        "case.state", {"case_id": x}
    )  # requests are answered in order of handling; the fresh one arrives
    assert fresh.ok and fresh.body["known"] is False
    assert len(lane.responses) == 1


def test_remote_command_is_delivered_with_expiry_recorded_audited_and_its_result_stored(bridge, lane_factory) -> None:
    import time

    from cloud_bridge.auth import new_token, token_hash
    from edge.contract import CommandResult, CommandStatus, Leaf

    lane = lane_factory("lane-01")
    bridge.store.accounts.add_user("ada", "ops-admin", "$argon2id$unused")
    tok = new_token()
    bridge.store.accounts.add_token(token_hash(tok), "ada", "t")
    client = TestClient(bridge.app())
    r = client.post(
        "/api/units/site-1/lane-01/commands",
        json={"command": "open_barrier", "args": {"barrier": "exit"}, "reason": "car stuck", "ttl_s": 30},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status_code == 200
    cmd = wait_for(lambda: lane.commands, 30, "command delivered")[0]
    assert (
        cmd["command"] == "open_barrier"
        and cmd["issued_by"] == "ada"
        and 25 < cmd["expires_at"] - cmd["issued_at"] <= 30
    )
    lane.publish_raw(
        Leaf.CMD_RESULT,
        CommandResult(
            unit="lane-01",
            request_id=cmd["request_id"],
            command="open_barrier",
            status=CommandStatus.DONE,
            ts=time.time(),
        ).to_bytes(),
    )
    wait_for(lambda: bridge.store.commands.recent()[0]["status"] == "done", 30, "command result recorded")
    entry = next(a for a in bridge.store.audit.entries() if a["action"] == "command.sent")
    assert entry["actor"] == "ada" and "car stuck" in entry["detail"]


def test_expired_reservation_is_released_and_the_lane_told(bridge, lane_factory) -> None:
    import time

    lane = lane_factory("lane-02")
    exp1 = case_of("lane-02", 0xE2)
    lane.publish_event(lane.event(1, "case.opened", exp1))
    wait_for(lambda: lane.acked == 1, 30, "unit known")
    assert lane.request(
        "plate.reserve",
        {"case_id": exp1, "authority": "苏A", "number": "苏A5N123", "plate_kind": "ordinary", "composed": True},
    ).ok
    bridge.service.clock = lambda: time.time() + 3600
    assert bridge.service.sweep()["expired"] == 1
    note = wait_for(lambda: lane.notifications, 30, "expiry notification")[0]
    assert note["kind"] == "plate.reservation_expired" and note["data"]["number"] == "苏A5N123"
    assert bridge.store.plates.numbers(exp1) == []
