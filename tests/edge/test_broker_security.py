"""The private broker admits only known units over TLS, each only on its own topics."""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoBroker
from edge.contract import Leaf, topic
from edge.pki import SitePki, mosquitto_password_hash

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
