"""Lanes' events land once over the real broker: shared subscription, manual acks after commit, watermarks."""

from __future__ import annotations

import json
import random

import pytest
from bridge_helpers import make_settings, wait_for

from cloud_bridge.runner import Bridge
from edge.contract import Leaf

pytestmark = pytest.mark.broker


@pytest.fixture
def bridge(db_url, mqtt_broker, site_pki, payment_key_file):
    b = Bridge(make_settings(db_url, broker=mqtt_broker, pki=site_pki, key_file=payment_key_file), sweep_s=3600).start()
    wait_for(lambda: all(w.subscribed.is_set() for w in b.workers), 30, "bridge subscribed")
    yield b
    b.stop()


def test_duplicates_gaps_and_reordering_are_stored_once_and_acked_contiguously(bridge, lane_factory) -> None:
    lane = lane_factory("lane-01")
    events = [lane.event(s, "case.inspection_item", "c-1", item=s) for s in range(1, 41)]
    order = events[:10] + events[14:25] + events[10:14] + events[25:]  # 11..14 arrive late
    random.Random(3).shuffle(order[30:])  # and the tail is shuffled
    for ev in order + events[:5] + events[20:23]:  # some sent twice
        lane.publish_event(ev)
    wait_for(lambda: lane.acked == 40, 30, "watermark 40")
    # the 8 repeats were published after the originals: the watermark can reach 40 before they are counted
    wait_for(lambda: bridge.store.counts()["duplicates_seen"] >= 8, 30, "the 8 repeats counted")
    counts = bridge.store.counts()
    assert counts["events_stored"] == 40
    assert counts["duplicates_seen"] == 8
    assert counts["gaps_detected"] >= 1 and counts["out_of_order"] >= 4
    stored = [e["seq"] for e in bridge.store.unit_records.events("lane-01")]
    assert stored == list(range(1, 41))


def test_a_gap_holds_the_watermark_until_filled(bridge, lane_factory) -> None:
    lane = lane_factory("lane-02")
    for s in (1, 2, 3, 5, 6):
        lane.publish_event(lane.event(s, "case.opened", f"g-{s}"))
    wait_for(lambda: bridge.store.counts()["events_stored"] == 5, 30, "5 stored")
    wait_for(lambda: lane.acked == 3, 30, "watermark 3")
    assert bridge.store.counts()["missing_seqs"] == 1
    lane.publish_event(lane.event(4, "case.opened", "g-4"))
    wait_for(lambda: lane.acked == 6, 30, "watermark 6 after the gap is filled")


def test_malformed_oversize_and_forged_payloads_go_to_dead_letters_and_ingest_goes_on(bridge, lane_factory) -> None:
    lane = lane_factory("lane-03")
    lane.publish_raw(Leaf.EVENTS, b"not json")
    lane.publish_raw(Leaf.EVENTS, b"{" + b" " * (300 * 1024) + b"}")
    lane.publish_raw(
        Leaf.EVENTS, json.dumps({"v": 1, "unit": "lane-03", "seq": 0, "ts": 1, "kind": "case.opened"}).encode()
    )
    lane.publish_raw(Leaf.EVENTS, lane.event(1, "case.opened", "x").to_bytes().replace(b'"lane-03"', b'"lane-02"'))
    lane.publish_raw(
        Leaf.EVENTS, json.dumps({"v": 1, "unit": "lane-03", "seq": 1, "ts": 1, "kind": "case.teleported"}).encode()
    )
    lane.publish_event(lane.event(1, "case.opened", "ok-1"))
    wait_for(lambda: lane.acked == 1, 30, "the good event after the bad ones")
    reasons = [d["reason"] for d in bridge.store.unit_records.dead_letters()]
    assert len(reasons) == 5
    assert any(r.startswith("oversize") for r in reasons)
    assert any("unit mismatch" in r for r in reasons)
    assert sum(r.startswith("schema") for r in reasons) == 3
    metrics = bridge.metrics.registry.get_sample_value("passlane_bridge_dead_letters_total", {"reason": "schema"})
    assert metrics == 3


def test_status_and_telemetry_update_the_unit(bridge, lane_factory) -> None:
    import time

    from edge.contract import BoardHealth, Telemetry, UnitState, UnitStatus

    lane = lane_factory("lane-01")
    lane.publish_raw(
        Leaf.STATUS, UnitStatus(unit="lane-01", state=UnitState.ONLINE, ts=time.time(), software="1.0").to_bytes()
    )
    tm = Telemetry(
        unit="lane-01",
        ts=time.time(),
        load_1m=0.5,
        mem_used_pct=30,
        disk_used_pct=40,
        outbox_depth=7,
        stage="inspection",
        boards=[BoardHealth(name="entry-io", online=True), BoardHealth(name="exit-io", online=False)],
    )
    lane.publish_raw(Leaf.TELEMETRY, tm.to_bytes(), qos=0)
    unit = wait_for(
        lambda: next((u for u in bridge.store.units() if u["unit"] == "lane-01" and u.get("outbox_depth") == 7), None),
        30,
        "telemetry",
    )
    assert unit["state"] == "online" and unit["boards_offline"] == ["exit-io"]


def test_a_failing_database_delays_acknowledgement_but_loses_nothing(bridge, lane_factory, db_url) -> None:
    import sqlite3

    import psycopg

    locked = (
        psycopg.OperationalError if db_url.startswith("postgresql://") else sqlite3.OperationalError
    )  # the engine's own "database away"
    real = bridge.service.ingest.ingest
    failures = {"left": 6}  # more than the batch retries: the messages are then stored one by one, never dead-lettered

    def flaky(items, now=None):
        if failures["left"] > 0 and any(i.leaf == Leaf.EVENTS for i in items):
            failures["left"] -= 1
            raise locked("database is locked (simulated)")
        return real(items, now)

    bridge.service.ingest.ingest = flaky  # the workers ingest through the service's ingest service
    lane = lane_factory("lane-02")
    for s in range(1, 11):
        lane.publish_event(lane.event(s, "case.inspection_item", "db-1", item=s))
    wait_for(lambda: lane.acked == 10, 20, "all acknowledged after the database recovered")
    assert failures["left"] == 0
    assert [e["seq"] for e in bridge.store.unit_records.events("lane-02")] == list(range(1, 11))
    assert bridge.metrics.registry.get_sample_value("passlane_bridge_store_errors_total") >= 6
    assert bridge.store.unit_records.dead_letters() == []


def test_a_batch_of_events_is_stored_event_by_event_and_a_bad_one_is_refused_alone(bridge, lane_factory) -> None:
    """A unit's catch-up message (`edge.contract.pack_events`): each event stored as if it had come alone, the bad
    one in its place as refused (the watermark passes it), the message acknowledged once; a malformed batch is
    one dead letter."""
    from edge.contract import batch_bytes

    lane = lane_factory("lane-02")
    good = [lane.event(s, "case.inspection_item", "b-1", item=s).to_bytes() for s in range(1, 31)]
    bad = good[9].replace(b'"case.inspection_item"', b'"case.teleported"')  # seq 10: no such event kind
    lane.publish_raw(Leaf.EVENTS, batch_bytes("lane-02", good[:9] + [bad] + good[10:20]))
    lane.publish_raw(Leaf.EVENTS, batch_bytes("lane-02", good[20:]))
    lane.publish_raw(Leaf.EVENTS, b'{"v":1,"unit":"lane-02","events":[1,2]}')
    wait_for(lambda: lane.acked == 30, 30, "watermark 30 past the refused seq 10")
    stored = bridge.store.unit_records.events("lane-02")
    assert [e["seq"] for e in stored] == list(range(1, 31))
    assert stored[9]["kind"] == "event.refused" and all(e["kind"] == "case.inspection_item" for e in stored[10:])
    reasons = [d["reason"] for d in bridge.store.unit_records.dead_letters() if d.get("unit") == "lane-02"]
    assert len(reasons) == 2 and any("EventBatch" in r for r in reasons), reasons
    assert bridge.store.counts()["duplicates_seen"] == 0
    lane.publish_raw(Leaf.EVENTS, batch_bytes("lane-02", good[:5]))  # the same batch again: duplicates only
    wait_for(lambda: bridge.store.counts()["duplicates_seen"] == 5, 30, "the repeated batch counted as duplicates")
