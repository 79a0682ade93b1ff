"""One unit's MQTT v5 session with the site broker (paho-mqtt 2.x): a thin adapter.

TLS with the site CA and the unit's own account; a retained ``status`` of
``online`` on every connect, a Last Will of ``offline``, and ``stopped`` on a
clean shutdown; reconnect with exponential backoff (paho's own). Requests
carry the MQTT v5 ResponseTopic and CorrelationData; the cloud's Response
comes back on the unit's ``resp`` leaf with the same CorrelationData.
"""

from __future__ import annotations

import concurrent.futures
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import (
    MAX_PAYLOAD_BYTES,
    QOS,
    RETAINED,
    Ack,
    Leaf,
    Notification,
    Payload,
    PayloadError,
    RemoteCommand,
    Request,
    RequestKind,
    Response,
    UnitState,
    UnitStatus,
    decode,
    topic,
)

log = logging.getLogger("passlane.mqtt")


@dataclass(frozen=True)
class SessionSettings:
    site: str
    unit: str
    host: str
    port: int
    username: str
    password: str
    ca_file: Path
    keepalive_s: int = 15
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    role: str = "lane"
    software: str = "passlane-lane/0.1"

    @classmethod
    def from_unit_config(cls, cfg: Any, role: str = "lane", software: str = "passlane-lane/0.1") -> SessionSettings:
        m = cfg.mqtt
        return cls(
            site=cfg.site,
            unit=cfg.unit,
            host=m.host,
            port=m.port,
            username=m.username or cfg.unit,
            password=m.password.reveal(),
            ca_file=m.tls.ca_file,
            keepalive_s=m.keepalive_s,
            reconnect_min_s=m.reconnect_min_s,
            reconnect_max_s=m.reconnect_max_s,
            role=role,
            software=software,
        )


class CloudUnreachable(RuntimeError):
    """No Response in time (offline, or the cloud did not answer)."""


class MqttSession:
    def __init__(self, settings: SessionSettings) -> None:
        self.s = settings
        self.connected = threading.Event()
        self.stopping = False
        self.on_connected: list[Callable[[], None]] = []
        self.on_disconnected: list[Callable[[], None]] = []
        self.on_ack: list[Callable[[Ack], None]] = []
        self.on_command: list[Callable[[RemoteCommand], None]] = []
        self.on_notification: list[Callable[[Notification], None]] = []
        self.bad_payloads = 0
        self.connects = 0
        self._pending: dict[bytes, concurrent.futures.Future[Response]] = {}
        self._lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{settings.unit}", protocol=mqtt.MQTTv5)
        ctx = ssl.create_default_context(cafile=str(settings.ca_file))  # verifies the chain and the host name
        c.tls_set_context(ctx)
        c.username_pw_set(settings.username, settings.password)
        c.will_set(self.topic(Leaf.STATUS), self._status(UnitState.OFFLINE).to_bytes(), qos=1, retain=True)
        c.reconnect_delay_set(
            min_delay=max(1, int(settings.reconnect_min_s)), max_delay=max(1, int(settings.reconnect_max_s))
        )
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self._sub_mid = -1
        self.client = c

    def topic(self, leaf: Leaf) -> str:
        return topic(self.s.site, self.s.unit, leaf)

    def _status(self, state: UnitState) -> UnitStatus:
        return UnitStatus(unit=self.s.unit, state=state, ts=time.time(), role=self.s.role, software=self.s.software)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async(
            self.s.host, self.s.port, keepalive=self.s.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self, timeout: float = 3.0) -> None:
        """Clean shutdown: publish retained ``stopped``, then disconnect (no Last Will)."""
        self.stopping = True
        if self.connected.is_set():
            try:
                info = self.client.publish(
                    self.topic(Leaf.STATUS), self._status(UnitState.STOPPED).to_bytes(), qos=1, retain=True
                )
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish stopped: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()
        for fut in list(self._pending.values()):
            fut.cancel()

    # ------------------------------------------------------------ paho callbacks (paho's thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("broker refused connection: %s", reason_code)
            return
        self.connects += 1
        _nodelay(client)
        client.publish(self.topic(Leaf.STATUS), self._status(UnitState.ONLINE).to_bytes(), qos=1, retain=True)
        _, self._sub_mid = client.subscribe(
            [(self.topic(leaf), 1) for leaf in (Leaf.ACK, Leaf.RESP, Leaf.CMD, Leaf.NOTIFY)]
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        """Ready only once the broker confirmed our subscriptions: no Response or command can slip past."""
        if mid != self._sub_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.error("broker refused a subscription: %s", reason_codes)
        self.connected.set()
        for fn in list(self.on_connected):
            try:
                fn()
            except Exception:  # a listener's bug must not kill paho's thread
                log.exception("on_connected listener failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected.clear()
        for fn in list(self.on_disconnected):
            try:
                fn()
            except Exception:
                log.exception("on_disconnected listener failed")

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        try:
            leaf = Leaf(msg.topic.rsplit("/", 1)[-1]) if not msg.topic.endswith("cmd/result") else Leaf.CMD_RESULT
            payload = decode(leaf, msg.payload)
        except (ValueError, PayloadError) as exc:
            self.bad_payloads += 1
            log.warning("dropped bad payload on %s: %s", msg.topic, exc)
            return
        try:
            if isinstance(payload, Ack):
                for fn in list(self.on_ack):
                    fn(payload)
            elif isinstance(payload, Response):
                corr = getattr(msg.properties, "CorrelationData", None)
                with self._lock:
                    fut = self._pending.pop(corr, None) if corr else None
                if fut is not None and not fut.done():
                    fut.set_result(payload)
            elif isinstance(payload, RemoteCommand):
                for on_command in list(self.on_command):
                    on_command(payload)
            elif isinstance(payload, Notification):
                for on_notification in list(self.on_notification):
                    on_notification(payload)
        except Exception:
            log.exception("handler for %s failed", msg.topic)

    # ------------------------------------------------------------ publishing
    def publish(
        self, leaf: Leaf, payload: Payload | bytes, properties: Properties | None = None
    ) -> mqtt.MQTTMessageInfo:
        """Publish on one of our leaves; a payload over the contract's limit is refused here (PayloadError),
        never sent: the broker would drop the whole connection for an oversize packet."""
        raw = payload if isinstance(payload, bytes) else payload.to_bytes()
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"{leaf.value} payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}: not sent")
        return self.client.publish(self.topic(leaf), raw, qos=QOS[leaf], retain=leaf in RETAINED, properties=properties)

    def request_future(
        self, kind: RequestKind, body: dict[str, Any], case_id: str | None = None, timeout: float = 10.0
    ) -> concurrent.futures.Future[Response]:
        """Publish a Request; the future resolves with the Response (or CloudUnreachable on timeout)."""
        fut: concurrent.futures.Future[Response] = concurrent.futures.Future()
        if not self.connected.is_set():
            fut.set_exception(CloudUnreachable("not connected to the site broker"))
            return fut
        corr = uuid.uuid4().hex.encode()
        now = time.time()
        req = Request(unit=self.s.unit, kind=kind, case_id=case_id, body=body, ts=now, expires_at=now + timeout)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.topic(Leaf.RESP)
        props.CorrelationData = corr
        with self._lock:
            self._pending[corr] = fut
        try:
            self.publish(Leaf.REQ, req, props)
        except PayloadError as exc:
            with self._lock:
                self._pending.pop(corr, None)
            fut.set_exception(exc)
            return fut

        def expire() -> None:
            with self._lock:
                f = self._pending.pop(corr, None)
            if f is not None and not f.done():
                f.set_exception(CloudUnreachable(f"no answer to {kind.value} within {timeout:.0f} s"))

        t = threading.Timer(timeout, expire)
        t.daemon = True
        t.start()
        fut.add_done_callback(lambda _f: t.cancel())
        return fut

    def request(
        self, kind: RequestKind, body: dict[str, Any], case_id: str | None = None, timeout: float = 10.0
    ) -> Response:
        return self.request_future(kind, body, case_id, timeout).result(timeout + 1)


def _nodelay(client: mqtt.Client) -> None:
    """Small MQTT packets go out at once (no Nagle delay waiting for the peer's delayed ACK: ~40 ms per round trip)."""
    import socket

    sock = client.socket()
    raw = getattr(sock, "_sock", sock)  # paho may wrap the TLS socket
    for s in (sock, raw):
        # a real TCP or TLS socket (ssl.SSLSocket is one), not paho's websocket wrapper
        if not isinstance(s, socket.socket):
            continue
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return
        except (AttributeError, OSError):
            continue
