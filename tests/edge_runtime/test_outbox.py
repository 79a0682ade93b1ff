"""The durable outbox against a real TLS Mosquitto and the real cloud bridge (started late to withhold acks)."""

from __future__ import annotations

import threading

import pytest
from rt_helpers import wait_until

from edge.contract import EventKind
from edge.journal import CaseRow, Journal, NewEvent
from edge.outbox import Outbox

pytestmark = pytest.mark.broker


def _record(journal: Journal, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        journal.record(
            [NewEvent(EventKind.CASE_INSPECTION_ITEM, case_id=f"c{i // 10}", data={"i": i})],
            CaseRow(f"c{i // 10}", "A", "admitted", True, {"i": i}),
        )


def test_events_are_published_in_order_and_deleted_only_after_ack(journal, session, cloud_off):
    cloud = cloud_off  # the bridge is down: events go out, nobody acknowledges
    box = Outbox(journal, session, resend_after_s=1)
    box.start()
    try:
        _record(journal, 20)
        wait_until(lambda: box.published >= 20, 10, "all 20 published")
        assert journal.outbox_depth() == 20 and journal.acked_seq() == 0, "deleted before the cloud acknowledged"
        cloud.start()  # the re-send after the timeout reaches the bridge, which stores and acknowledges
        wait_until(lambda: journal.outbox_depth() == 0, 20, "outbox drained by the ack")
        assert sorted(cloud.events("lane-01")) == list(range(1, 21))
        assert [cloud.events("lane-01")[s]["data"]["i"] for s in range(1, 21)] == list(range(20)), "order not kept"
        assert journal.acked_seq() == 20
        assert len(journal.events()) == 20, "the local journal keeps every event"
    finally:
        box.stop()


def test_broker_restart_mid_stream_loses_nothing_and_repeats_have_no_effect(journal, session, cloud, mqtt_broker):
    box = Outbox(journal, session, resend_after_s=2, window=50)
    box.start()
    total = 600
    try:
        writer = threading.Thread(target=_record, args=(journal, total))
        writer.start()
        wait_until(lambda: journal.acked_seq() >= 50, 20, "first acks")
        mqtt_broker.kill()  # a crash, not a clean stop
        wait_until(lambda: not session.connected.is_set(), 10, "session noticing the outage")
        mqtt_broker.start()
        writer.join(60)
        wait_until(lambda: journal.acked_seq() == total, 60, f"all {total} events acknowledged")
        stored = cloud.events("lane-01")
        assert sorted(stored) == list(range(1, total + 1)), "an event was lost"
        assert [stored[s]["data"]["i"] for s in range(1, total + 1)] == list(range(total)), "order not kept"
        assert journal.outbox_depth() == 0
    finally:
        box.stop()


def test_events_recorded_while_offline_go_out_after_reconnect(journal, session, cloud, mqtt_broker):
    box = Outbox(journal, session, resend_after_s=2)
    box.start()
    try:
        mqtt_broker.stop()
        wait_until(lambda: not session.connected.is_set(), 10, "offline")
        _record(journal, 30)
        assert journal.outbox_depth() == 30
        mqtt_broker.start()
        wait_until(lambda: journal.acked_seq() == 30, 30, "acks after reconnect")
        assert sorted(cloud.events("lane-01")) == list(range(1, 31))
        # the catch-up goes packed (edge.contract.pack_events): a few messages, not one per event
        assert box.published >= 30 and box.messages <= box.published // 10, (box.messages, box.published)
    finally:
        box.stop()


def test_a_failed_state_change_records_no_event(journal):
    class Boom(Exception):
        pass

    bad = CaseRow("c1", "A", "opened", True, {"x": object()})  # not JSON-serialisable: the transaction fails
    with pytest.raises(TypeError):
        journal.record([NewEvent(EventKind.CASE_OPENED, case_id="c1")], bad)
    assert journal.last_seq() == 0 and journal.outbox_depth() == 0 and journal.case("c1") is None


def test_unacknowledged_events_are_resent_after_the_timeout_and_the_depth_alarms(journal, session, cloud_off):
    cloud = cloud_off  # the bridge is down: no ack comes
    box = Outbox(journal, session, resend_after_s=0.5, alarm_depth=5)
    box.start()
    try:
        _record(journal, 6)
        assert box.alarm and box.depth == 6
        wait_until(lambda: box.resends >= 2 and box.published >= 12, 10, "re-sent after the timeout")
        cloud.start()
        wait_until(lambda: journal.outbox_depth() == 0, 20, "drained")
        assert not box.alarm
        assert sorted(cloud.events("lane-01")) == list(range(1, 7))
    finally:
        box.stop()
