"""No account but the bridge can join a shared subscription and take a turn of the bridge's messages.

Mosquitto hands each message of a shared subscription `$share/<group>/<filter>`
to one member of the group in turn. With Mosquitto 2.0's `acl_file`, a lane
could subscribe to `$share/bridge/passlane/v1/+/+/events` (the file never
checks a SUBSCRIBE): on its turn the broker refused the delivery (the lane has
no read right on other units' topics) and dropped the message, so the bridge
missed every other event of every unit for as long as the intruder stayed.

These tests run the real broker with the configuration the project generates
(TLS, per-unit accounts, `edge.pki`'s ACLs).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from rt_helpers import SITE, wait_until

from edge.broker import MosquittoBroker
from edge.contract import Leaf, shared_filter, topic
from edge.pki import SitePki, SiteUnits, dynsec_config, unit_acls

MESSAGES = 40


@dataclass
class Member:
    """A connected test client that records its SUBACK reason codes and the messages it got."""

    client: mqtt.Client
    granted: list[ReasonCode] = field(default_factory=list)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, filters: list[str]) -> list[ReasonCode]:
        done = threading.Event()

        def on_subscribe(c, userdata, mid, reason_codes, properties):
            self.granted = list(reason_codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(5), "no SUBACK"
        return self.granted

    def got(self, payload: bytes) -> bool:
        with self.lock:
            return any(p == payload for _, p in self.received)


@pytest.fixture
def connect(mqtt_broker: MosquittoBroker, site_pki: SitePki) -> Iterator:
    members: list[Member] = []

    def _connect(user: str, client_id: str) -> Member:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(site_pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
        client.username_pw_set(user, site_pki.password(user))
        member = Member(client)
        connected = threading.Event()
        client.on_connect = lambda c, u, flags, rc, props: rc == 0 and connected.set()

        def on_message(c, userdata, msg):
            with member.lock:
                member.received.append((msg.topic, msg.payload))

        client.on_message = on_message
        client.connect(mqtt_broker.host, mqtt_broker.port, keepalive=10)
        client.loop_start()
        assert connected.wait(5), f"{user} could not connect"
        members.append(member)
        return member

    yield _connect
    for m in members:
        m.client.disconnect()
        m.client.loop_stop()


# (intruding account, the leaf its intrusion targets, filters it must be refused,
#  a topic it may read, on which a marker shows the broker has routed everything before it)
INTRUSIONS = [
    pytest.param(
        "lane-01",
        Leaf.EVENTS,
        [
            shared_filter(Leaf.EVENTS),  # the bridge's own group
            shared_filter(Leaf.EVENTS, group="anything"),  # a group of its own
            f"$share/bridge/{topic(SITE, 'lane-01', Leaf.ACK)}",  # its own topic, through a share
            "#",
            "passlane/v1/+/+/events",
            topic(SITE, "lane-02", Leaf.EVENTS),
            topic(SITE, "lane-02", Leaf.CMD),
        ],
        topic(SITE, "lane-01", Leaf.ACK),
        id="lane",
    ),
    pytest.param(
        "ops",
        Leaf.STATUS,
        [
            shared_filter(Leaf.STATUS),  # ops may read every status, but not as a member of the bridge's group
            shared_filter(Leaf.TELEMETRY),
            "#",
            topic(SITE, "lane-02", Leaf.EVENTS),
        ],
        topic(SITE, "lane-03", Leaf.TELEMETRY),
        id="ops-viewer",
    ),
]


@pytest.mark.broker
@pytest.mark.parametrize("intruder_user,leaf,filters,marker_topic", INTRUSIONS)
def test_an_account_other_than_the_bridge_cannot_join_the_bridge_group_or_divert_its_messages(
    connect, intruder_user: str, leaf: Leaf, filters: list[str], marker_topic: str
) -> None:
    bridge = connect("bridge", "t-bridge-worker")
    assert all(not rc.is_failure for rc in bridge.subscribe([shared_filter(leaf)]))

    intruder = connect(intruder_user, f"t-intruder-{intruder_user}")
    refused = intruder.subscribe(filters)
    allowed = intruder.subscribe([marker_topic])  # a right it does have, so it is a working client

    lane2 = connect("lane-02", "t-lane-02")
    payloads = [f"{leaf.value}-{i}".encode() for i in range(MESSAGES)]
    for p in payloads:
        lane2.client.publish(topic(SITE, "lane-02", leaf), p, qos=1).wait_for_publish(5)
    wait_until(
        lambda: len(bridge.received) >= MESSAGES,
        5,
        f"bridge group receiving all {MESSAGES} (got {len(bridge.received)})",
    )

    # Once the broker has routed this marker to the intruder, it has routed every earlier message too.
    bridge.client.publish(marker_topic, b"marker", qos=1).wait_for_publish(5)
    wait_until(lambda: intruder.got(b"marker"), 5, "the marker on a topic the intruder may read")

    assert sorted(p for _, p in bridge.received) == sorted(payloads)
    assert [t for t, _ in intruder.received] == [marker_topic], "the intruder received messages it has no right to"
    assert all(rc.is_failure and rc.value == 0x87 for rc in refused), [str(rc) for rc in refused]  # Not authorized
    assert not allowed[0].is_failure


@pytest.mark.broker
def test_several_bridge_workers_still_share_the_load(connect) -> None:
    """The fix must not break what shared subscriptions are for: two bridge workers split the messages."""
    workers = [connect("bridge", f"t-bridge-worker-{i}") for i in (1, 2)]
    for w in workers:
        assert not w.subscribe([shared_filter(Leaf.EVENTS)])[0].is_failure
    lane2 = connect("lane-02", "t-lane-02")
    for i in range(MESSAGES):
        lane2.client.publish(topic(SITE, "lane-02", Leaf.EVENTS), f"e{i}".encode(), qos=1).wait_for_publish(5)
    wait_until(
        lambda: sum(len(w.received) for w in workers) >= MESSAGES, 5, "both workers together receiving every message"
    )
    assert sum(len(w.received) for w in workers) == MESSAGES
    assert all(w.received for w in workers), "the broker did not split the group's messages"


def test_generated_acls_give_shared_subscriptions_to_the_bridge_only() -> None:
    units = SiteUnits(site=SITE, units={"bridge": "bridge", "ops": "ops", "lane-01": "lane", "exam-1": "exam-vehicle"})
    for unit, role in units.units.items():
        shared = [t for _, t in unit_acls(SITE, unit, role) if t.startswith("$share/")]
        assert bool(shared) == (role == "bridge"), (unit, shared)
    config = dynsec_config(units, dict.fromkeys(units.units, "pw"))
    assert config["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    assert "$CONTROL" not in str(config)  # nobody may administer the broker over MQTT
