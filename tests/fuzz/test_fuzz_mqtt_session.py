"""A real unit MQTT session (edge.mqtt_session) on a real TLS Mosquitto, fed junk on the leaves it reads.

The bridge account may publish on every unit's ack, resp, cmd and notify leaves; whatever it publishes there
(junk, mutated payloads, wrong types, oversize, odd MQTT v5 properties, retained or not), the session
refuses what is not its leaf's payload (counted in `bad_payloads`, one per message), never loses its broker
connection, and its durable outbox still delivers every journaled event to the real bridge afterwards.
"""

from __future__ import annotations

import ssl
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from fuzz_helpers import budget, count
from fuzz_payloads import SITE, UNIT, hostile, valid_bytes
from hypothesis import given
from hypothesis import strategies as st
from lane_cloud import RealCloud
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rt_helpers import session_settings, wait_until

from edge.contract import MAX_PAYLOAD_BYTES, UNIT_SUBSCRIBES, Ack, EventKind, Leaf, PayloadError, decode, topic
from edge.journal import CaseRow, Journal, NewEvent
from edge.mqtt_session import MqttSession
from edge.outbox import Outbox

pytestmark = [pytest.mark.fuzz, pytest.mark.broker]


class BridgeAccount:
    """A client with the bridge's broker account: it may publish on every unit's leaves."""

    def __init__(self, broker, pki) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fuzz-bridge-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.tls_set_context(ssl.create_default_context(cafile=str(pki.ca_cert)))
        self.client.username_pw_set("bridge", pki.password("bridge"))
        connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: connected.set()
        self.disconnects: list[str] = []
        self.last: object = None
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(str(rc))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert connected.wait(10), "the bridge account could not connect"

    def publish(self, topic_name: str, payload: bytes, retain: bool, props: Properties | None) -> None:
        assert not self.disconnects, f"the broker dropped the bridge account: {self.disconnects[:1]} after {self.last}"
        self.last = (
            topic_name,
            payload[:100],
            len(payload),
            retain,
            props and (getattr(props, "ResponseTopic", None), getattr(props, "CorrelationData", None)),
        )
        info = self.client.publish(topic_name, payload, qos=1, retain=retain, properties=props)
        info.wait_for_publish(10)
        assert info.is_published(), f"the broker did not take a message on {topic_name}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _record(journal: Journal, n: int) -> None:
    for i in range(n):
        journal.record(
            [NewEvent(EventKind.CASE_INSPECTION_ITEM, case_id="lane-01-261206-00000a", data={"i": i})],
            CaseRow("lane-01-261206-00000a", "A", "admitted", True, {"i": i}),
        )


@pytest.fixture
def unit_with_outbox(tmp_path, mqtt_broker, site_pki) -> Iterator[tuple[MqttSession, Journal, RealCloud]]:
    cloud = RealCloud(tmp_path / "bridge", mqtt_broker, site_pki).start()
    journal = Journal(tmp_path / "lane.sqlite", UNIT)
    session = MqttSession(session_settings(mqtt_broker, site_pki, UNIT))
    outbox = Outbox(journal, session, resend_after_s=2)
    outbox.start()
    session.start()
    try:
        assert session.wait_connected(15)
        yield session, journal, cloud
    finally:
        outbox.stop()
        session.stop()
        journal.close()
        cloud.stop()


def _is_bad(leaf: Leaf, raw: bytes) -> bool:
    try:
        decode(leaf, raw)
    except (PayloadError, ValueError):
        return True
    return False


def _harmless(leaf: Leaf, raw: bytes) -> bool:
    """Not a valid Ack for this unit: that is the bridge's word that events are stored, a lie the unit must believe."""
    if leaf != Leaf.ACK or _is_bad(leaf, raw):
        return True
    ack = decode(leaf, raw)
    return not (isinstance(ack, Ack) and ack.unit == UNIT)


oversize = st.integers(MAX_PAYLOAD_BYTES - 16, MAX_PAYLOAD_BYTES + 40_000).map(
    lambda n: b'{"v":1,"pad":"' + b"x" * n + b'"}'
)
messages = (
    st.sampled_from(UNIT_SUBSCRIBES)
    .flatmap(
        lambda leaf: st.tuples(
            st.just(leaf),
            st.one_of(hostile(leaf), hostile(leaf), valid_bytes(leaf), oversize),
            st.booleans(),  # retained
            st.one_of(st.none(), st.binary(max_size=64)),  # CorrelationData
            # a ResponseTopic: one the broker passes on (wildcards, control characters or non-characters in it make
            # Mosquitto drop the publisher, not the unit)
            st.one_of(
                st.none(),
                st.text(
                    st.characters(exclude_characters="+#", exclude_categories=["Cc", "Cs", "Cn", "Co"]),
                    min_size=1,
                    max_size=40,
                ),
            ),
        )
    )
    .filter(lambda m: _harmless(m[0], m[1]))
)


def test_a_unit_session_refuses_junk_on_its_leaves_stays_connected_and_its_outbox_still_delivers(
    unit_with_outbox, mqtt_broker, site_pki
):
    session, journal, cloud = unit_with_outbox
    _record(journal, 5)
    wait_until(lambda: journal.acked_seq() == 5, 20, "the first events acknowledged")
    bridge = BridgeAccount(mqtt_broker, site_pki)
    expected_bad = session.bad_payloads
    try:

        @budget(ci=10, long=400)
        @given(st.lists(messages, min_size=1, max_size=8))
        def junk_on_the_units_leaves(batch):
            nonlocal expected_bad
            count()
            for leaf, raw, retain, corr, resp_topic in batch:
                props = Properties(PacketTypes.PUBLISH)
                if corr is not None:
                    props.CorrelationData = corr
                if resp_topic:
                    props.ResponseTopic = resp_topic
                bridge.publish(
                    topic(SITE, UNIT, leaf), raw, retain, props if (corr is not None or resp_topic) else None
                )
                expected_bad += _is_bad(leaf, raw)
            wait_until(
                lambda: session.bad_payloads >= expected_bad, 20, f"the session refusing {expected_bad} bad payloads"
            )
            assert session.bad_payloads == expected_bad, (
                "a payload that is its leaf's model was refused, or junk was taken"
            )
            assert session.connected.is_set() and session.connects == 1, "the session lost its broker connection"

        junk_on_the_units_leaves()
    finally:
        for leaf in UNIT_SUBSCRIBES:  # clear what the junk left retained (the bridge publishes its next ack anyway)
            bridge.publish(topic(SITE, UNIT, leaf), b"", True, None)
        bridge.close()
    _record(journal, 20)
    wait_until(
        lambda: journal.acked_seq() == journal.last_seq() == 25 and journal.outbox_depth() == 0,
        30,
        "the outbox drained",
    )
    assert sorted(cloud.events(UNIT)) == list(range(1, 26)), "the bridge stored every journaled event"
    assert session.connects == 1


# ---------------------------------------------------------------- what the site fuzz test found, pinned
def test_an_ack_covering_a_seq_the_unit_has_not_sent_yet_leaves_that_event_in_the_outbox(tmp_path):
    """A refused message naming the lane's next seq (sent with its account) takes that seq's place at the bridge, and the
    bridge's watermark then covers it. The lane deleted its own event with that seq from the outbox when an Ack
    arrived before the event was published (after a restart, or between journaling and publishing): the bridge kept
    the refusal marker for ever (tests/site/test_fuzz_site.py, bridge != journal at seq 6)."""
    journal = Journal(tmp_path / "lane.sqlite", UNIT)
    try:
        _record(journal, 3)
        journal.mark_sent([1, 2], now=1.0)
        journal.ack(3)  # the bridge's watermark covers 3: its own marker, not this lane's event
        assert [seq for seq, _ in journal.outbox_unsent(10)] == [3], "the unsent event 3 still goes out"
        assert journal.outbox_depth() == 1
        journal.mark_sent([3], now=2.0)
        journal.ack(3)  # the Ack that follows the bridge storing this lane's event 3
        assert journal.outbox_depth() == 0
    finally:
        journal.close()
