"""The private broker admits only known units over TLS, each only on its own topics."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoBroker
from edge.contract import Leaf, topic
from edge.pki import SEND, SitePki, mosquitto_password_hash, unit_acls

SITE = "site-1"


def _client(
    broker: MosquittoBroker, pki: SitePki, user: str | None, password: str | None, tls: bool = True
) -> tuple[mqtt.Client, threading.Event, list]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{id(object())}", protocol=mqtt.MQTTv5)
    if tls:
        client.tls_set(ca_certs=str(pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
    if user is not None:
        client.username_pw_set(user, password)
    done = threading.Event()
    result: list = []

    def on_connect(c, userdata, flags, reason_code, properties):
        result.append(reason_code)
        done.set()

    def on_connect_fail(c, userdata):
        result.append("fail")
        done.set()

    client.on_connect = on_connect
    client.on_connect_fail = on_connect_fail
    return client, done, result


def _connect(broker: MosquittoBroker, pki: SitePki, user: str | None, password: str | None, tls: bool = True):
    client, done, result = _client(broker, pki, user, password, tls)
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return client, exc
    client.loop_start()
    done.wait(5)
    return client, result[0] if result else "timeout"


def test_password_hash_matches_mosquitto_format() -> None:
    hashed = mosquitto_password_hash("secret", salt=b"0123456789ab")
    assert hashed.startswith("$7$101$MDEyMzQ1Njc4OWFi$")


def test_known_unit_connects_over_tls(mqtt_broker: MosquittoBroker, site_pki: SitePki) -> None:
    client, rc = _connect(mqtt_broker, site_pki, "lane-01", site_pki.password("lane-01"))
    try:
        assert not isinstance(rc, Exception) and rc == 0, rc
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.mark.parametrize("user,password", [(None, None), ("lane-01", "wrong-password"), ("nobody", "x")])
def test_anonymous_or_wrong_password_is_refused(
    mqtt_broker: MosquittoBroker, site_pki: SitePki, user, password
) -> None:
    client, rc = _connect(mqtt_broker, site_pki, user, password)
    client.loop_stop()
    assert isinstance(rc, Exception) or rc != 0, f"broker admitted {user!r}"


def test_plain_tcp_connection_is_refused(mqtt_broker: MosquittoBroker, site_pki: SitePki) -> None:
    client, rc = _connect(mqtt_broker, site_pki, "lane-01", site_pki.password("lane-01"), tls=False)
    client.loop_stop()
    assert isinstance(rc, Exception) or rc != 0


def test_lane_cannot_publish_as_another_lane_or_read_its_commands(
    mqtt_broker: MosquittoBroker, site_pki: SitePki
) -> None:
    """lane-01 publishes on lane-02's events and subscribes to lane-02's cmd: the bridge sees neither."""
    bridge, rc = _connect(mqtt_broker, site_pki, "bridge", site_pki.password("bridge"))
    assert rc == 0
    seen: list[str] = []
    got = threading.Event()
    bridge.on_message = lambda c, u, m: (seen.append(m.topic), got.set())
    subscribed = threading.Event()
    bridge.on_subscribe = lambda *a: subscribed.set()
    bridge.subscribe(f"passlane/v1/{SITE}/+/events", qos=1)
    assert subscribed.wait(5)

    lane1, rc = _connect(mqtt_broker, site_pki, "lane-01", site_pki.password("lane-01"))
    assert rc == 0
    granted: list = []
    sub_done = threading.Event()

    def on_subscribe(c, u, mid, reason_codes, props):
        granted.extend(reason_codes)
        sub_done.set()

    lane1.on_subscribe = on_subscribe
    lane1_got: list[str] = []
    lane1.subscribe([(topic(SITE, "lane-02", Leaf.CMD), 1), (topic(SITE, "lane-01", Leaf.CMD), 1)])
    assert sub_done.wait(5)
    lane1.publish(topic(SITE, "lane-02", Leaf.EVENTS), b"forged", qos=1).wait_for_publish(5)
    lane1.publish(topic(SITE, "lane-01", Leaf.EVENTS), b"own", qos=1).wait_for_publish(5)
    own_cmd = threading.Event()
    lane1.on_message = lambda c, u, m: (lane1_got.append(m.topic), m.topic.endswith("lane-01/cmd") and own_cmd.set())
    bridge.publish(topic(SITE, "lane-02", Leaf.CMD), b"secret-cmd", qos=1).wait_for_publish(5)
    bridge.publish(topic(SITE, "lane-01", Leaf.CMD), b"own-cmd", qos=1).wait_for_publish(5)
    assert own_cmd.wait(5)  # same publisher, so lane-02's command would have come first
    # A QoS 1 marker on lane-01's own topic, published after the forgery, flushes the
    # broker's per-connection order: once it has arrived the forgery would have too.
    marker_seen = threading.Event()
    bridge.on_message = lambda c, u, m: (seen.append(m.topic), m.payload == b"marker" and marker_seen.set())
    lane1.publish(topic(SITE, "lane-01", Leaf.EVENTS), b"marker", qos=1).wait_for_publish(5)
    assert marker_seen.wait(5)
    for c in (lane1, bridge):
        c.loop_stop()
        c.disconnect()
    assert topic(SITE, "lane-02", Leaf.EVENTS) not in seen
    assert lane1_got == [topic(SITE, "lane-01", Leaf.CMD)]


@pytest.fixture
def exam_site(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, SitePki]]:
    """A site with two exam cars beside a lane, the bridge and the ops viewer."""
    pki = SitePki(tmp_path / "pki")
    pki.init(
        SITE, {"bridge": "bridge", "ops": "ops", "lane-01": "lane", "car-01": "exam-vehicle", "car-02": "exam-vehicle"}
    )
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    try:
        yield broker, pki
    finally:
        broker.stop()


def _reader(broker: MosquittoBroker, pki: SitePki, user: str) -> tuple[mqtt.Client, list[tuple[str, bytes]]]:
    client, rc = _connect(broker, pki, user, pki.password(user))
    assert rc == 0, rc
    got: list[tuple[str, bytes]] = []
    client.on_message = lambda c, u, m: got.append((m.topic, m.payload))
    subscribed = threading.Event()
    granted: list = []

    def on_subscribe(c, u, mid, reason_codes, props):
        granted.extend(reason_codes)
        subscribed.set()

    client.on_subscribe = on_subscribe
    client.subscribe(f"passlane/v1/{SITE}/+/position", qos=0)
    assert subscribed.wait(5) and not granted[0].is_failure, f"{user} may read positions"
    return client, got


def test_an_exam_car_publishes_only_its_own_position_a_lane_none_and_the_bridge_and_ops_read_them(exam_site) -> None:
    broker, pki = exam_site
    bridge, bridge_got = _reader(broker, pki, "bridge")
    ops, ops_got = _reader(broker, pki, "ops")
    car, rc = _connect(broker, pki, "car-01", pki.password("car-01"))
    lane, rc2 = _connect(broker, pki, "lane-01", pki.password("lane-01"))
    assert rc == 0 and rc2 == 0
    car.publish(topic(SITE, "car-02", Leaf.POSITION), b"forged", qos=1).wait_for_publish(5)
    lane.publish(topic(SITE, "lane-01", Leaf.POSITION), b"lane", qos=1).wait_for_publish(5)
    car.publish(topic(SITE, "car-01", Leaf.POSITION), b"own", qos=1).wait_for_publish(5)
    # QoS 1 markers on topics each publisher may use flush the broker's per-connection order
    bridge_marker = threading.Event()
    bridge.on_message = lambda c, u, m: (
        bridge_got.append((m.topic, m.payload)),
        m.payload == b"marker" and bridge_marker.set(),
    )
    events_subscribed = threading.Event()
    bridge.on_subscribe = lambda *a: events_subscribed.set()
    bridge.subscribe(f"passlane/v1/{SITE}/+/events", qos=1)
    assert events_subscribed.wait(5)  # else the marker may pass before the subscription exists
    lane.publish(topic(SITE, "lane-01", Leaf.EVENTS), b"marker", qos=1).wait_for_publish(5)
    assert bridge_marker.wait(5)
    deadline = threading.Event()
    for _ in range(50):
        if (topic(SITE, "car-01", Leaf.POSITION), b"own") in ops_got:
            break
        deadline.wait(0.1)
    for c in (bridge, ops, car, lane):
        c.loop_stop()
        c.disconnect()
    positions = [(t, p) for t, p in bridge_got if t.endswith("/position")]
    assert positions == [(topic(SITE, "car-01", Leaf.POSITION), b"own")], (
        "the car's own, neither the forgery nor the lane's"
    )
    assert ops_got == [(topic(SITE, "car-01", Leaf.POSITION), b"own")], "the ops viewer reads positions"


def test_position_rights_come_from_the_role() -> None:
    car_rights = unit_acls(SITE, "car-01", "exam-vehicle")
    lane_rights = unit_acls(SITE, "lane-01", "lane")
    assert (SEND, topic(SITE, "car-01", Leaf.POSITION)) in car_rights
    assert not [t for _, t in lane_rights if t.endswith("/position")]
