"""Alerts that clear themselves when their cause ends, kept in the history and audited; a plate jam's alert.

Through the real ingest (events stored, folded, judged, alerts raised) and the real sweep, on both engines.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from bridge_helpers import make_settings

from cloud_bridge.ingest import classify
from cloud_bridge.rules import RiskRulesConfig, Rule, alert_signal, clear_signal
from cloud_bridge.service import Service
from cloud_bridge.store import Store
from edge.contract import BoardHealth, EventEnvelope, Leaf, Telemetry, UnitState, UnitStatus, topic

CFG = RiskRulesConfig()
_seq = itertools.count(1)


def device_event(kind: str, device: str, **data: Any) -> Any:
    ev = EventEnvelope(unit="lane-01", seq=next(_seq), ts=time.time(), kind=kind, data={"device": device, **data})
    return classify(topic("site-1", "lane-01", Leaf.EVENTS), ev.to_bytes(), time.time())


def by_rule(store: Store, rule: str) -> list[dict[str, Any]]:
    return [a for a in store.alerts.recent() if a["rule"] == rule]


def test_a_device_fault_clears_itself_when_the_lane_says_the_device_recovered(store: Store, ingest) -> None:
    ingest([device_event("device.fault", "io-board", detail="link down")])
    (alert,) = store.alerts.recent("active")
    assert alert["rule"] == "device_offline" and alert["code"] == "device_fault"
    assert alert["values"] == {"unit": "lane-01", "device": "io-board", "fault": "link_down", "detail": "link down"}
    ingest([device_event("device.recovered", "io-board")])
    assert store.alerts.recent("active") == []
    row = store.alerts.get(alert["id"])
    assert row is not None  # kept: the history shows when it opened and when its cause ended
    assert (row["status"], row["resolved_by"], row["cleared"]) == ("resolved", "system", "device_recovered")
    assert row["acked_by"] is None  # nobody acknowledged it
    entries = [e for e in store.audit.entries() if e["action"] == "alert.clear"]
    assert [(e["actor"], e["target"]) for e in entries] == [("system", f"alert/{alert['id']}")]
    assert store.audit.verify() == []


def test_a_plate_jam_raises_an_alert_that_clears_when_the_jam_is_cleared(store: Store, ingest) -> None:
    """What the lane records when the issuer jams mid-job (lane_controller/hardware.py: the issuer's fault event,
    then the paused job), and when the attendant has freed the plate (the issuer's fault cleared)."""
    ingest(
        [
            device_event("device.fault", "plate-issuer", detail="jam (job j-7)"),
            device_event("device.fault", "plate-issuer", detail="job paused: jam", job_id="j-7"),
        ]
    )
    (jam,) = store.alerts.recent("active")
    assert (jam["rule"], jam["severity"], jam["count"]) == ("plate_jam", "high", 2)
    assert jam["values"]["job"] == "j-7"
    ingest([device_event("device.recovered", "plate-issuer")])
    assert store.alerts.recent("active") == []
    assert store.alerts.get(jam["id"])["cleared"] == "device_recovered"


def test_fault_and_recovery_in_one_batch_keep_their_order(store: Store, ingest) -> None:
    ingest(
        [
            device_event("device.fault", "io-board", detail="link down"),
            device_event("device.recovered", "io-board"),
            device_event("device.fault", "io-board", detail="link down"),
        ]
    )
    alerts = by_rule(store, "device_offline")
    assert sorted(a["status"] for a in alerts) == ["open", "resolved"]
    ingest([device_event("device.fault", "camera", detail="no frame"), device_event("device.recovered", "camera")])
    camera = [a for a in by_rule(store, "device_offline") if a["values"].get("device") == "camera"]
    assert [a["status"] for a in camera] == ["resolved"]


def test_a_person_resolving_first_leaves_nothing_to_clear(store: Store, ingest) -> None:
    ingest([device_event("device.fault", "io-board", detail="link down")])
    (alert,) = store.alerts.recent("active")
    assert store.alerts.resolve(alert["id"], "ada")
    ingest([device_event("device.recovered", "io-board")])
    row = store.alerts.get(alert["id"])
    assert (row["resolved_by"], row["cleared"]) == ("ada", None)
    assert [e for e in store.audit.entries() if e["action"] == "alert.clear"] == []


def test_the_sweep_clears_its_offline_alert_once_the_unit_is_back(store: Store, tmp_path: Path) -> None:
    clock = [time.time()]
    service = Service(make_settings(str(tmp_path / "unused.sqlite3")), store, clock=lambda: clock[0])

    def status(state: UnitState, boards_online: bool) -> list[Any]:
        t = clock[0]
        boards = [BoardHealth(name="io-board", online=boards_online)]
        return [
            classify(
                topic("site-1", "lane-01", Leaf.STATUS), UnitStatus(unit="lane-01", state=state, ts=t).to_bytes(), t
            ),
            classify(
                topic("site-1", "lane-01", Leaf.TELEMETRY),
                Telemetry(
                    unit="lane-01", ts=t, load_1m=0.1, mem_used_pct=1, disk_used_pct=1, outbox_depth=0, boards=boards
                ).to_bytes(),
                t,
            ),
        ]

    service.ingest.ingest(status(UnitState.ONLINE, False), clock[0])
    service.ingest.ingest(status(UnitState.OFFLINE, False), clock[0])
    service.sweep()
    codes = sorted(a["code"] for a in store.alerts.recent("active"))
    assert codes == ["board_offline", "unit_offline"]
    clock[0] += 30
    service.ingest.ingest(status(UnitState.ONLINE, True), clock[0])
    service.sweep()
    assert store.alerts.recent("active") == []
    assert sorted(a["cleared"] for a in store.alerts.recent("resolved")) == ["board_online", "unit_online"]
    # the lane's own report of a fault on a board that stays online is not the sweep's to clear
    service.ingest.ingest([device_event("device.fault", "io-board", detail="E_PRESENCE: vehicle under the arm")])
    service.sweep()
    assert [a["code"] for a in store.alerts.recent("active")] == ["device_fault_other"]


def test_a_clearing_signal_limited_to_codes_leaves_other_causes_open(store: Store) -> None:
    raised = alert_signal(CFG, Rule.DEVICE_OFFLINE, "lane-01:io-board", "t", "d", "s", "lane-01", code="device_fault")
    store.alerts.raise_all([raised])
    only_sweep = clear_signal(
        CFG, Rule.DEVICE_OFFLINE, "lane-01:io-board", "board_online", "s", "lane-01", only_codes=("board_offline",)
    )
    assert store.alerts.raise_all([only_sweep]) == []
    assert len(store.alerts.recent("active")) == 1
    anything = clear_signal(CFG, Rule.DEVICE_OFFLINE, "lane-01:io-board", "device_recovered", "s", "lane-01")
    assert len(store.alerts.raise_all([anything])) == 1
    assert store.alerts.recent("active") == []
