"""Helpers for the bridge tests: waiting on conditions, settings, a lane client."""

from __future__ import annotations

import itertools
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_bridge.config import BridgeSettings, load_settings
from edge.broker import MosquittoBroker
from edge.contract import EventEnvelope, Leaf, Request, Response, topic
from edge.pki import SitePki
from site_sim.polling import wait_until

SITE = "site-1"
PAYMENT_KEY = b"test-provider-key-0123456789"


def case_of(unit: str, n: int) -> str:
    """A case id of `unit` (a case id names the unit that opened it: edge.contract.case_owner)."""
    return f"{unit}-261206-{n:06x}"


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition", poll: float = 0.02) -> Any:
    """Poll `cond` until truthy or the deadline passes (no sleeps as synchronisation)."""
    return wait_until(cond, timeout, what, interval=poll)


def make_settings(
    db: str,
    *,
    broker: MosquittoBroker | None = None,
    pki: SitePki | None = None,
    key_file: Path | None = None,
    **extra: Any,
) -> BridgeSettings:
    over: dict[str, Any] = {
        "db": db,
        "payments.key_file": str(key_file) if key_file else None,
        "ingest.batch_wait_ms": 2.0,
    }
    if broker is not None and pki is not None:
        over |= {
            "mqtt.host": broker.host,
            "mqtt.port": broker.port,
            "mqtt.site_dir": str(pki.root),
            "mqtt.client_id_prefix": f"bridge-{uuid.uuid4().hex[:6]}",
        }
    over |= extra
    return load_settings(None, over)


def nodelay(client: mqtt.Client) -> None:
    import socket

    sock = client.socket()
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Lane:
    """A lane as the bridge sees it: publishes events and requests over TLS MQTT v5, hears resp/ack/notify/cmd."""

    def __init__(self, broker: MosquittoBroker, pki: SitePki, unit: str, site: str = SITE) -> None:
        self.unit, self.site = unit, site
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{unit}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.tls_set(ca_certs=str(pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
        self.client.username_pw_set(unit, pki.password(unit))
        self.responses: dict[bytes, Response] = {}
        self.acked = 0
        self.notifications: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        connected = threading.Event()
        subscribed = threading.Event()

        def on_connect(c, u, f, rc, p):
            nodelay(c)
            c.subscribe([(topic(site, unit, leaf), 1) for leaf in (Leaf.RESP, Leaf.ACK, Leaf.NOTIFY, Leaf.CMD)])
            connected.set()

        def on_message(c, u, m):
            import json

            with self.lock:
                if m.topic.endswith("/resp"):
                    self.responses[bytes(m.properties.CorrelationData)] = Response.from_bytes(m.payload)  # type: ignore[assignment]
                elif m.topic.endswith("/ack"):
                    self.acked = max(self.acked, json.loads(m.payload)["acked_seq"])
                elif m.topic.endswith("/notify"):
                    self.notifications.append(json.loads(m.payload))
                elif m.topic.endswith("/cmd"):
                    self.commands.append(json.loads(m.payload))

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = on_message
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        assert connected.wait(10) and subscribed.wait(10), "lane did not connect"
        self._corr = itertools.count(1)

    def event(
        self,
        seq: int,
        kind: str,
        case_id: str | None = None,
        ts: float | None = None,
        actor: str | None = None,
        **data: Any,
    ) -> EventEnvelope:
        return EventEnvelope(
            unit=self.unit,
            seq=seq,
            ts=time.time() if ts is None else ts,
            kind=kind,
            case_id=case_id,
            actor=actor,
            data=data,
        )

    def publish_event(self, ev: EventEnvelope) -> None:
        self.client.publish(topic(self.site, self.unit, Leaf.EVENTS), ev.to_bytes(), qos=1).wait_for_publish(10)

    def publish_raw(self, leaf: Leaf, payload: bytes, qos: int = 1) -> None:
        self.client.publish(topic(self.site, self.unit, leaf), payload, qos=qos).wait_for_publish(10)

    def request(self, kind: str, body: dict[str, Any], timeout: float = 30.0, case_id: str | None = None) -> Response:
        corr = f"{self.unit}-{next(self._corr)}".encode()
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topic(self.site, self.unit, Leaf.RESP)
        props.CorrelationData = corr
        req = Request(
            unit=self.unit, kind=kind, case_id=case_id, body=body, ts=time.time(), expires_at=time.time() + 30
        )
        self.client.publish(topic(self.site, self.unit, Leaf.REQ), req.to_bytes(), qos=1, properties=props)
        return wait_for(lambda: self.responses.get(corr), timeout, f"response to {kind}", poll=0.002)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
