"""The MQTT shell around the ingest core: one paho client per worker.

Each worker joins the shared subscription (`$share/<group>/passlane/v1/+/+/<leaf>`)
with a fixed client id, `clean_start=False` and a session expiry, so the
broker splits messages among the workers and queues for a stopped one.
Messages are acknowledged by hand (paho 2.x `manual_ack`) only after the
database transaction that stored them committed; a worker killed before
that leaves them unacknowledged and the broker delivers them again (the
(unit, seq) key makes the second delivery a counted duplicate).
"""

from __future__ import annotations

import gc
import logging
import queue
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_bridge.config import BridgeSettings
from cloud_bridge.ingest import Inbound, IngestResult, classify_all
from cloud_bridge.metrics import Metrics
from cloud_bridge.service import Service
from edge.contract import Ack, Leaf, PayloadError, Request, Response, parse_topic, shared_filter, topic

log = logging.getLogger("passlane.bridge")

SUBSCRIBED = (Leaf.EVENTS, Leaf.STATUS, Leaf.TELEMETRY, Leaf.CMD_RESULT, Leaf.REQ)


def make_client(
    settings: BridgeSettings, client_id: str, *, manual_ack: bool, persistent: bool
) -> tuple[mqtt.Client, Properties]:
    m = settings.mqtt
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    client.tls_set(ca_certs=str(m.ca_file()), cert_reqs=ssl.CERT_REQUIRED)
    client.username_pw_set(m.username, m.password())
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(0.2, 5)  # type: ignore[arg-type]  # paho annotates int seconds; it only adds and compares them, so 0.2 s works
    props = Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = m.session_expiry_s
        props.ReceiveMaximum = settings.ingest.max_inflight
    return client, props


def _nodelay(client: mqtt.Client) -> None:
    """Small request/response and ack packets must not wait for Nagle's algorithm (40 ms stalls with delayed ACKs)."""
    import socket

    sock = client.socket()
    try:
        if isinstance(sock, socket.socket):  # a TCP or TLS socket (ssl.SSLSocket is one), not paho's websocket wrapper
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class MqttPublisher:
    """A plain publishing client for the HTTP side (payment notifications, remote commands)."""

    def __init__(self, settings: BridgeSettings, client_id: str) -> None:
        self.client, props = make_client(settings, client_id, manual_ack=False, persistent=False)
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.set() if not rc.is_failure else None
        self.client.connect_async(
            settings.mqtt.host, settings.mqtt.port, settings.mqtt.keepalive_s, clean_start=True, properties=props
        )
        self.client.loop_start()

    def __call__(self, topic_name: str, payload: bytes, qos: int, retain: bool) -> None:
        self.connected.wait(10)
        self.client.publish(topic_name, payload, qos=qos, retain=retain)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class _Msg:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float
    properties: Any = None


_gc_tuned = False


def _tune_gc() -> None:
    """Once per process, before the first worker starts: what is alive now (modules, models, settings) is moved out of
    the collector's sight, and the young generation collected less often. An ingest batch holds thousands of young
    objects (messages, envelopes, rows) until its commit; collected every 700 allocations they were scanned again and
    again, and promoted to be scanned in full collections: about a tenth of a worker's CPU per event."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    threshold0, threshold1, threshold2 = gc.get_threshold()
    gc.set_threshold(max(threshold0, 10_000), max(threshold1, 20), max(threshold2, 20))


class IngestWorker:
    """Receives, stores in batches, acknowledges after commit, publishes watermarks; answers requests."""

    def __init__(self, settings: BridgeSettings, service: Service, metrics: Metrics, index: int = 0) -> None:
        self.settings = settings
        self.service = service
        self.ingest = service.ingest
        self.metrics = metrics
        self.client_id = f"{settings.mqtt.client_id_prefix}-{index}"
        self.client, self._props = make_client(settings, self.client_id, manual_ack=True, persistent=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.q: queue.Queue[_Msg] = queue.Queue()
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.requests = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"req-{index}")
        self._telemetry_written: dict[str, float] = {}
        self._thread = threading.Thread(target=self._ingest_loop, name=f"ingest-{index}", daemon=True)
        self.batches = 0
        self.stored = 0

    # -- MQTT callbacks (paho network thread)
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("%s: connect refused: %s", self.client_id, reason_code)
            return
        _nodelay(client)
        self.connected.set()
        subs = [
            (shared_filter(leaf, self.settings.mqtt.shared_group), 0 if leaf == Leaf.TELEMETRY else 1)
            for leaf in SUBSCRIBED
        ]

        def on_subscribe(*a: Any) -> None:
            log.info("%s subscribed (session present: %s)", self.client_id, getattr(flags, "session_present", None))
            self.subscribed.set()

        client.on_subscribe = on_subscribe
        client.subscribe(subs)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        m = _Msg(msg.topic, bytes(msg.payload), msg.mid, msg.qos, time.time(), getattr(msg, "properties", None))
        if msg.topic.endswith("/" + Leaf.REQ.value):
            self.requests.submit(self._handle_request, m)
        else:
            self.q.put(m)

    # -- lifecycle
    def start(self) -> IngestWorker:
        _tune_gc()
        m = self.settings.mqtt
        self.client.connect_async(m.host, m.port, m.keepalive_s, clean_start=False, properties=self._props)
        self.client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(10)
        self.requests.shutdown(wait=True)
        self.client.disconnect()
        self.client.loop_stop()

    # -- requests
    def _handle_request(self, m: _Msg) -> None:
        t0 = time.perf_counter()
        kind = "invalid"
        try:
            site, unit, _ = parse_topic(m.topic)
            props = m.properties
            resp_topic = getattr(props, "ResponseTopic", None) if props is not None else None
            corr = getattr(props, "CorrelationData", None) if props is not None else None
            default_topic = topic(site, unit, Leaf.RESP)
            if not resp_topic or not resp_topic.startswith(default_topic):
                resp_topic = default_topic
            try:
                req = Request.from_bytes(m.payload)
                if req.unit != unit:
                    raise PayloadError(f"unit mismatch: payload says {req.unit!r}, topic {unit!r}")
            except PayloadError as exc:
                self._dead(m, f"request: {exc}")
                return
            kind = req.kind.value
            try:
                resp = self.service.handle_request(req, site)
            except Exception as exc:
                log.exception("request %s failed", kind)
                resp = Response(kind=req.kind, ok=False, error="internal", detail=str(exc)[:200])
            if resp is not None:
                p = Properties(PacketTypes.PUBLISH)
                if corr is not None:
                    p.CorrelationData = corr
                self.client.publish(resp_topic, resp.to_bytes(), qos=1, properties=p)
                self.metrics.requests.labels(kind, str(resp.ok).lower()).inc()
        except Exception:
            log.exception("request handling failed")
        finally:
            self.metrics.request_latency.labels(kind).observe(time.perf_counter() - t0)
            self._ack(m)

    def _dead(self, m: _Msg, reason: str) -> None:
        item = Inbound(m.topic, None, None, None, None, m.payload, m.received_at, reason)
        try:
            self.ingest.ingest([item])
            self.metrics.dead_letters.labels(reason.split(":")[0]).inc()
        except Exception:
            log.exception("dead letter not stored")

    def _ack(self, m: _Msg) -> None:
        if m.qos > 0:
            try:
                self.client.ack(m.mid, m.qos)
            except Exception:  # noqa: BLE001 - connection lost: the broker redelivers
                pass

    # -- the ingest loop
    def _ingest_loop(self) -> None:
        cfg = self.settings.ingest
        pending_telemetry: dict[str, _Msg] = {}
        while not self.stop_event.is_set():
            try:
                first = self.q.get(timeout=0.2)
            except queue.Empty:
                first = None
            batch: list[_Msg] = [first] if first else []
            if first is not None:
                deadline = time.monotonic() + cfg.batch_wait_ms / 1000
                while len(batch) < cfg.batch_max:
                    try:
                        batch.append(self.q.get_nowait())
                    except queue.Empty:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        try:
                            batch.append(self.q.get(timeout=left))
                        except queue.Empty:
                            break
            # telemetry: keep the latest per unit, write at most every telemetry_min_interval_s
            msgs: list[_Msg] = []
            now = time.time()
            for m in batch:
                if m.topic.endswith("/telemetry") and m.qos == 0:
                    pending_telemetry[m.topic] = m
                else:
                    msgs.append(m)
            for t, m in list(pending_telemetry.items()):
                if now - self._telemetry_written.get(t, 0.0) >= cfg.telemetry_min_interval_s:
                    msgs.append(m)
                    self._telemetry_written[t] = now
                    del pending_telemetry[t]
            if msgs:
                self._store(msgs)

    def _store(self, msgs: list[_Msg]) -> None:
        items = [it for m in msgs for it in classify_all(m.topic, m.payload, m.received_at, m)]
        result = None
        attempt = 0
        while result is None and not self.stop_event.is_set():
            try:
                result = self.ingest.ingest(items)
            except Exception as exc:  # noqa: BLE001 - the ingest loop never stops
                attempt += 1
                self.metrics.store_errors.inc()
                log.warning("%s: batch of %d not stored (attempt %d): %s", self.client_id, len(items), attempt, exc)
                if attempt >= 3:
                    for it in items:  # isolate a poisonous message: each item alone, acknowledged once all are in
                        self._store_one(it)
                    if not self.stop_event.is_set():
                        self._acknowledge(items)
                    return
                time.sleep(min(2.0, 0.05 * 2**attempt))
        if result is None:
            return  # stopping: nothing acknowledged, the broker redelivers
        self._after_commit(items, result)

    def _store_one(self, item: Inbound) -> None:
        """Store one message; only an error caused by the message itself sends it to the dead letters.

        A transient database error (locked, connection lost, server down) is retried until the
        database answers again: an event is never moved aside because the database was away.
        """
        while not self.stop_event.is_set():
            try:
                result = self.ingest.ingest([item])
                self._after_commit([item], result, acknowledge=False)
                return
            except Exception as exc:  # noqa: BLE001
                self.metrics.store_errors.inc()
                if self.service.store.engine.unavailable(exc):
                    time.sleep(0.5)
                    continue
                try:
                    dead = Inbound(
                        item.topic,
                        item.site,
                        item.unit,
                        item.leaf,
                        None,
                        item.raw or (item.payload.to_bytes() if item.payload is not None else b""),  # (a batch's)
                        item.received_at,
                        f"store: {str(exc)[:200]}",
                        item.token,
                    )
                    result = self.ingest.ingest([dead])
                    self._after_commit([dead], result, acknowledge=False)
                    return
                except Exception:  # noqa: BLE001 - the database itself is failing: wait and retry
                    time.sleep(1.0)

    def _acknowledge(self, items: list[Inbound]) -> None:
        """Acknowledge each message of `items` once (a batch of events is several items of one message)."""
        seen: set[int] = set()
        for it in items:
            if id(it.token) not in seen:
                seen.add(id(it.token))
                self._ack(it.token)

    def _after_commit(self, items: list[Inbound], result: IngestResult, acknowledge: bool = True) -> None:
        """`acknowledge`: the messages of `items` are all stored now (else the caller acknowledges them later)."""
        now = time.time()
        if acknowledge:
            self._acknowledge(items)
        self.batches += 1
        self.stored += result.stored
        mt = self.metrics
        mt.batch.observe(len(items))
        per_leaf: dict[str, int] = {}
        for it in items:
            if it.payload is not None:
                leaf = it.leaf.value if it.leaf else "?"
                per_leaf[leaf] = per_leaf.get(leaf, 0) + 1
                if it.leaf == Leaf.EVENTS:
                    mt.lag.observe(max(0.0, now - it.payload.ts))
        for leaf, n in per_leaf.items():
            mt.ingested.labels(leaf).inc(n)
        if result.duplicates:
            mt.duplicates.inc(result.duplicates)
        for reason in result.dead_reasons:
            mt.dead_letters.labels(reason.split(":")[0]).inc()
        if result.gaps:
            mt.gaps.inc(result.gaps)
        if result.out_of_order:
            mt.out_of_order.inc(result.out_of_order)
        for (site, unit), acked in result.watermarks.items():
            if site:
                ack = Ack(unit=unit, acked_seq=acked, ts=now)
                self.client.publish(topic(site, unit, Leaf.ACK), ack.to_bytes(), qos=1, retain=True)
