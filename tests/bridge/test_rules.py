"""The risk rules, one by one (pure), and alert de-duplication / acknowledgement in the store."""

from __future__ import annotations

import time

from cloud_bridge.case_view import CaseFacts, project
from cloud_bridge.ingest import classify
from cloud_bridge.rules import (
    RiskRulesConfig,
    Rule,
    check_event,
    device_fault_name,
    failed_logins_signal,
    offline_unit_signals,
    open_case_signals,
    override_rate_signal,
)
from edge.contract import EventEnvelope, Leaf, topic

CFG = RiskRulesConfig()
C1 = "lane-01-261206-0000c1"  # a case id names the unit that opened it
T0 = 1_790_000_000.0


def ev(
    kind: str, case: str | None = C1, ts: float = T0, seq: int = 1, actor: str | None = "insp-7", **data
) -> EventEnvelope:
    return EventEnvelope(unit="lane-01", seq=seq, ts=ts, kind=kind, case_id=case, actor=actor, data=data)


def facts(*events: EventEnvelope) -> CaseFacts:
    f = CaseFacts(C1)
    for e in events:
        project(f, e, "site-1")
    return f


def rules_of(signals) -> set[Rule]:
    return {s.rule for s in signals}


def test_inspection_shorter_than_minimum_alerts_and_a_normal_one_does_not() -> None:
    before = facts(ev("case.opened"), ev("case.admitted", ts=T0 + 60))
    assert Rule.INSPECTION_TOO_SHORT in rules_of(check_event(ev("case.inspected", ts=T0 + 100), before, "site-1", CFG))
    assert not check_event(ev("case.inspected", ts=T0 + 60 + 300), before, "site-1", CFG)
    assert Rule.INSPECTION_TOO_SHORT in rules_of(check_event(ev("case.inspected", duration_s=30), None, "site-1", CFG))


def test_vin_corrected_by_inspector_alerts() -> None:
    signals = check_event(
        ev("case.vin_confirmed", vin="LSVAU218XN2183294", read_vin="LSVAU2180N21832S4"),
        facts(ev("case.opened")),
        "site-1",
        CFG,
    )
    assert rules_of(signals) == {Rule.VIN_CORRECTED}
    assert not check_event(
        ev("case.vin_confirmed", vin="LSVAU218XN2183294", read_vin="LSVAU218XN2183294"), None, "site-1", CFG
    )


def test_vin_differing_from_the_certificate_alerts() -> None:
    before = facts(ev("case.partner_records", certificate={"vin": "LSVAU218XN2183294"}))
    signals = check_event(ev("case.vin_confirmed", vin="LSVAU218XN2183295"), before, "site-1", CFG)
    assert Rule.VIN_DIFFERS_FROM_CERTIFICATE in rules_of(signals)
    assert not check_event(ev("case.vin_confirmed", vin="LSVAU218XN2183294"), before, "site-1", CFG)


def test_override_rate_above_limit_alerts_only_with_enough_samples() -> None:
    assert override_rate_signal("insp-7", 10, 9, CFG) is None  # too few inspections to judge
    assert override_rate_signal("insp-7", 40, 4, CFG) is None
    sig = override_rate_signal("insp-7", 40, 12, CFG)
    assert sig is not None and sig.rule == Rule.OVERRIDE_RATE and sig.key == "inspector_override_rate:insp-7"


def test_case_open_beyond_thirty_minutes_alerts() -> None:
    cases = [
        {
            "case_id": "old",
            "opened_at": T0,
            "closed_at": None,
            "unit": "lane-01",
            "site": "site-1",
            "stage": "case.paid",
        },
        {"case_id": "new", "opened_at": T0 + 1700, "closed_at": None},
    ]
    signals = open_case_signals(cases, T0 + 1801, CFG)
    assert [s.case_id for s in signals] == ["old"]


def test_device_offline_by_last_will_silence_or_board() -> None:
    units = [
        {"unit": "lane-01", "state": "offline", "last_seen_at": T0},
        {"unit": "lane-02", "state": "online", "last_seen_at": T0 - 500},
        {"unit": "lane-03", "state": "online", "last_seen_at": T0, "boards_offline": ["exit-io"]},
        {"unit": "lane-04", "state": "stopped", "last_seen_at": T0 - 5000},
        {"unit": "bridge", "role": "bridge", "state": "offline"},
    ]
    signals = offline_unit_signals(units, T0, CFG)
    raised = {s.key for s in signals if not s.clears}
    assert raised == {"device_offline:lane-01", "device_offline:lane-02", "device_offline:lane-03:exit-io"}
    # lane-03 is online and heard from: the sweep's own offline alert about it, if one is open, clears
    assert {s.key for s in signals if s.clears} == {"device_offline:lane-03"}
    assert Rule.DEVICE_OFFLINE in rules_of(
        check_event(ev("device.fault", case=None, device="plate-issuer"), None, "site-1", CFG)
    )


def test_barrier_opened_outside_a_case_alerts() -> None:
    assert Rule.BARRIER_OUTSIDE_CASE in rules_of(
        check_event(ev("barrier.actuated", case=None, barrier="exit", state="open"), None, "site-1", CFG)
    )
    closed = facts(ev("case.opened"), ev("case.closed", ts=T0 + 900))
    assert Rule.BARRIER_OUTSIDE_CASE in rules_of(
        check_event(ev("barrier.actuated", barrier="exit", state="open"), closed, "site-1", CFG)
    )
    open_case = facts(ev("case.opened"))
    assert not check_event(ev("barrier.actuated", barrier="exit", state="open"), open_case, "site-1", CFG)
    assert not check_event(ev("barrier.actuated", case=None, barrier="exit", state="closed"), None, "site-1", CFG)


def test_plate_issued_without_payment_alerts_critical() -> None:
    unpaid = facts(ev("case.opened"))
    signals = check_event(ev("case.plates_issued", number="苏A12345"), unpaid, "site-1", CFG)
    assert rules_of(signals) == {Rule.PLATE_WITHOUT_PAYMENT} and signals[0].severity == "critical"
    assert not check_event(
        ev("case.plates_issued", number="苏A12345"), facts(ev("case.opened"), ev("case.paid")), "site-1", CFG
    )
    assert not check_event(ev("case.plates_issued", number="苏A12345"), unpaid, "site-1", CFG, paid_by_bridge=True)


def test_repeated_failed_logins_alert_at_the_limit() -> None:
    assert failed_logins_signal("lane-01/insp-7", 4, CFG) is None
    assert failed_logins_signal("lane-01/insp-7", 5, CFG).rule == Rule.FAILED_LOGINS


def test_disabled_rules_stay_silent() -> None:
    cfg = RiskRulesConfig(disabled=[Rule.PLATE_WITHOUT_PAYMENT])
    assert not check_event(ev("case.plates_issued", number="苏A12345"), facts(ev("case.opened")), "site-1", cfg)


def _inbound(e: EventEnvelope):
    return classify(topic("site-1", e.unit, Leaf.EVENTS), e.to_bytes(), time.time())


def test_one_open_alert_per_key_updates_and_is_acknowledged_and_resolved_by_name(store, ingest) -> None:
    for seq in range(1, 6):
        ingest([_inbound(ev("inspector.sign_in_failed", case=None, seq=seq, ts=time.time(), actor="insp-9"))])
    ingest([_inbound(ev("inspector.sign_in_failed", case=None, seq=6, ts=time.time(), actor="insp-9"))])
    active = [a for a in store.alerts.recent("active") if a["rule"] == "failed_logins"]
    assert len(active) == 1 and active[0]["count"] == 2
    aid = active[0]["id"]
    assert store.alerts.acknowledge(aid, "ops-alice")
    assert not store.alerts.acknowledge(aid, "ops-bob")  # already acknowledged
    ingest([_inbound(ev("inspector.sign_in_failed", case=None, seq=7, ts=time.time(), actor="insp-9"))])
    again = [a for a in store.alerts.recent("active") if a["rule"] == "failed_logins"]
    assert len(again) == 1 and again[0]["count"] == 3 and again[0]["acked_by"] == "ops-alice"
    assert store.alerts.resolve(aid, "ops-carol")
    row = store.alerts.get(aid)
    assert row["status"] == "resolved" and row["resolved_by"] == "ops-carol"
    ingest([_inbound(ev("inspector.sign_in_failed", case=None, seq=8, ts=time.time(), actor="insp-9"))])
    fresh = [a for a in store.alerts.recent("active") if a["rule"] == "failed_logins"]
    assert len(fresh) == 1 and fresh[0]["id"] != aid  # after resolution a new alert opens


def test_inspector_override_rate_is_counted_from_inspections_and_vin_corrections(store, ingest) -> None:
    items = []
    seq = 0
    for n in range(1, 21):
        corrected = n % 3 == 0  # 6 corrections in 20 inspections: 30% > 20%
        seq += 1
        items.append(
            _inbound(
                ev(
                    "case.vin_confirmed",
                    case=f"lane-01-261206-{n:06x}",
                    seq=seq,
                    actor="insp-3" if corrected else "system",
                    vin="LSVAU218XN2183294",
                    **(
                        {"by": "inspector", "read": "LSVAU2180N21832S4", "reason": "plate dirty"}
                        if corrected
                        else {"by": "reader"}
                    ),
                )
            )
        )
        seq += 1
        items.append(
            _inbound(ev("case.inspected", case=f"lane-01-261206-{n:06x}", seq=seq, actor="insp-3", duration_s=300))
        )
    ingest(items)
    rules = [a["rule"] for a in store.alerts.recent("active")]
    assert rules.count("inspector_override_rate") == 1
    assert rules.count("vin_corrected") == 6


def test_the_lane_controllers_event_data_is_understood() -> None:
    """Keys as lane_controller/case.py writes them: records.vehicle.certificate, read/by, too_fast, command, plate."""
    before = facts(
        ev("case.opened", id_number="11010519491231002X"),
        ev(
            "case.partner_records",
            records={"owner": {"name": "张伟"}, "vehicle": {"certificate": {"vin": "LSVAU218XN2183294"}}},
        ),
    )
    assert before.cert_vin == "LSVAU218XN2183294" and before.owner_name == "张伟"
    signals = check_event(
        ev("case.vin_confirmed", vin="LSVAU218XN2183295", by="inspector", read="LSVAU218XN2183294", reason="x"),
        before,
        "s",
        CFG,
    )
    assert rules_of(signals) == {Rule.VIN_CORRECTED, Rule.VIN_DIFFERS_FROM_CERTIFICATE}
    assert not check_event(ev("case.vin_confirmed", vin="LSVAU218XN2183294", by="reader"), before, "s", CFG)
    # typed in by the inspector after the reader read nothing: a confirmation, not a correction
    assert not check_event(
        ev("case.vin_confirmed", vin="LSVAU218XN2183294", by="inspector", read=None, reason="no read"), before, "s", CFG
    )
    assert Rule.INSPECTION_TOO_SHORT in rules_of(
        check_event(ev("case.inspected", ok=True, too_fast=True), None, "s", CFG)
    )
    assert Rule.BARRIER_OUTSIDE_CASE in rules_of(
        check_event(ev("barrier.actuated", case=None, barrier="exit", command="open", remote=True), None, "s", CFG)
    )
    assert Rule.PLATE_WITHOUT_PAYMENT in rules_of(
        check_event(ev("case.plates_issued", job_id="j1", plate="苏A12345"), before, "s", CFG)
    )
    assert project(before, ev("case.plates_issued", plate="苏A12345"), "s").plate == "苏A12345"


def test_odd_event_data_never_breaks_the_rules_or_the_case_view(store, ingest) -> None:
    odd = [
        ev("case.opened", seq=1, owner_name={"x": 1}, id_number=5),
        ev("case.partner_records", seq=2, records="nope", certificate=["a"]),
        ev("case.vin_confirmed", seq=3, vin=17, read={"vin": None}, corrected="yes"),
        ev("case.inspected", seq=4, duration_s="fast", too_fast="maybe"),
        ev("case.plates_issued", seq=5, number={"n": 1}, plate=42, plate_kind={"k": 1}),
        ev("barrier.actuated", seq=6, case=None, state=None, command=["open"]),
        ev("device.fault", seq=7, case=None, device={"d": 1}),
    ]
    res = ingest([_inbound(e) for e in odd])
    assert res.stored == 7
    case = store.case(C1)
    assert case["events"] == 5 and case["owner_name"] is None and case["plate"] is None


# ---------------------------------------------------------------- a plate jam, and faults that end
def test_a_plate_jam_raises_its_own_alert_and_not_a_device_offline_one() -> None:
    """The lane words the issuer's jam as the board said it: "jam (job j-1)" from the issuer's fault event,
    "job paused: jam" when the issue it waited for paused (lane_controller/hardware.py)."""
    for said in ("jam (job j-1)", "job paused: jam"):
        signals = check_event(ev("device.fault", device="plate-issuer", detail=said, job_id="j-1"), None, "site-1", CFG)
        assert rules_of(signals) == {Rule.PLATE_JAM}, said
        (jam,) = signals
        assert jam.key == "plate_jam:lane-01:plate-issuer" and jam.severity == "high"
        assert jam.code == "plate_jam" and jam.values == {"unit": "lane-01", "job": "j-1"}
    # another issuer fault is a device fault with its name, not a jam
    (other,) = check_event(ev("device.fault", device="plate-issuer", detail="magazine_empty (job j-2)"), None, "s", CFG)
    assert other.rule == Rule.DEVICE_OFFLINE and other.values["fault"] == "magazine_empty"
    # a jam alert switched off leaves the jam reported as a device fault
    off = RiskRulesConfig(disabled=[Rule.PLATE_JAM])
    assert rules_of(check_event(ev("device.fault", device="plate-issuer", detail="jam"), None, "s", off)) == {
        Rule.DEVICE_OFFLINE
    }


def test_device_reports_are_named_for_the_catalogue() -> None:
    assert device_fault_name("jam (job j-1)") == "jam"
    assert device_fault_name("job paused: jam") == "jam"
    assert device_fault_name("job interrupted: cover_open") == "cover_open"
    assert device_fault_name("link down") == "link_down"
    assert device_fault_name("could not start: [Errno 111] Connection refused") == "start_failed"
    assert device_fault_name("E_PRESENCE: vehicle under the arm") == "other"
    assert device_fault_name("jammed") == "other"  # a word, not the fault's name


def test_a_recovered_device_clears_its_fault_and_for_the_issuer_its_jam() -> None:
    signals = check_event(ev("device.recovered", case=None, device="plate-issuer"), None, "site-1", CFG)
    assert all(s.clears for s in signals)
    assert {s.key for s in signals} == {"device_offline:lane-01:plate-issuer", "plate_jam:lane-01:plate-issuer"}
    assert {s.code for s in signals} == {"device_recovered"}
    io = check_event(ev("device.recovered", case=None, device="io-board"), None, "site-1", CFG)
    assert [(s.key, s.clears) for s in io] == [("device_offline:lane-01:io-board", True)]


def test_the_sweep_clears_only_what_it_raised_about_boards() -> None:
    """A board its telemetry reports online again clears the sweep's board_offline alert, never a fault the lane
    reported about that board (an actuation refused while the link was up)."""
    unit = {
        "unit": "lane-01",
        "site": "site-1",
        "state": "online",
        "last_seen_at": T0,
        "telemetry": {"boards": [{"name": "io-board", "online": True}, {"name": "plate-issuer", "online": False}]},
        "boards_offline": ["plate-issuer"],
    }
    signals = offline_unit_signals([unit], T0, CFG)
    clears = {s.key: s.only_codes for s in signals if s.clears}
    assert clears == {
        "device_offline:lane-01": ("unit_offline", "unit_silent"),
        "device_offline:lane-01:io-board": ("board_offline",),
    }
    assert [s.key for s in signals if not s.clears] == ["device_offline:lane-01:plate-issuer"]
