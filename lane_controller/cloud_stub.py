"""A small stand-in for the cloud bridge, speaking the real contract over the real broker.

Used by the lane's tests, by ``passlane lane bench`` and by ``passlane lane run
--cloud-stub`` when the real bridge is not running. It stores events by
(unit, seq) (a repeat has no effect), publishes the retained Ack watermark
(highest contiguous seq), answers partner.lookup / plate.options /
plate.reserve / plate.release / payment.start from small built-in reference
data, and can confirm payments (at once, or when told). It is not the cloud
bridge: no database, no partner systems.
"""

from __future__ import annotations

import hashlib
import random
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import (
    Ack, EventEnvelope, Leaf, Notification, NotificationKind, RemoteCommand, Request, RequestKind, Response,
    all_units_filter, topic, CommandResult,
)

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_TRANSLIT = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))),
             "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def vin_with_check_digit(seed: str) -> str:
    """A well-formed VIN (valid check digit) derived from a seed, for reference data."""
    h = hashlib.sha256(seed.encode()).digest()
    chars = [VIN_ALPHABET[b % len(VIN_ALPHABET)] for b in h[:17]]
    chars[0:3] = list("LSV")
    chars[9] = "N"
    total = sum(_TRANSLIT[c] * w for c, w in zip(chars, _WEIGHTS))
    chars[8] = "X" if total % 11 == 10 else str(total % 11)
    return "".join(chars)


def reference_records(key: str) -> dict[str, Any]:
    """The partner.lookup answer for an ID or booking number (deterministic), in the cloud bridge's shape.

    Keys starting with 'NOINS' lack insurance; keys ending in 'E' are battery-electric (new-energy plates).
    """
    vin = vin_with_check_digit(key)
    new_energy = key.endswith("E")
    insured = not key.startswith("NOINS")
    return {
        "owner": {"name": "张三" if not key.endswith("1") else "李四", "id_number": key, "address": "北京市东城区"},
        "vehicles": [{
            "vin": vin, "owner_id_number": key, "booking_number": None,
            "certificate": {"vin": vin, "brand": "Volkswagen", "model": "Lavida 1.5L", "vehicle_type": "小型轿车",
                            "engine_number": "EA211-" + vin[-6:], "colour": "white", "seats": 5, "fuel_type": "bev" if new_energy else "petrol"},
            "purchase_tax": {"status": "paid"},
            "insurance": {"status": "valid" if insured else "missing", "valid_to": "2027-11-30"},
            "plate_kind": "new-energy" if new_energy else "ordinary",
            "issues": [] if insured else ["insurance_missing"],
        }],
    }


def certificate_vin(key: str) -> str:
    return vin_with_check_digit(key)


class CloudStub:
    def __init__(self, host: str, port: int, ca_file: Path | str, username: str, password: str, site: str,
                 *, auto_pay_s: float | None = 0.0, ack: bool = True, seed: int = 1) -> None:
        self.site = site
        self.auto_pay_s = auto_pay_s
        self.ack_enabled = ack
        self.rng = random.Random(seed)
        self.events: dict[str, dict[int, EventEnvelope]] = {}
        self.received = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.watermark: dict[str, int] = {}
        self.reserved: dict[str, str] = {}  # number -> case_id
        self.payments: dict[str, dict[str, Any]] = {}  # case_id -> payment
        self.requests: list[Request] = []
        self.command_results: list[CommandResult] = []
        self.connected = threading.Event()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cloud-stub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
        c.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        c.username_pw_set(username, password)
        c.reconnect_delay_set(1, 2)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: self.connected.clear()
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c
        self.host, self.port = host, port

    def start(self, timeout: float = 10.0) -> "CloudStub":
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise TimeoutError("cloud stub could not connect")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            return
        from edge.mqtt_session import _nodelay

        _nodelay(client)
        client.subscribe([(all_units_filter(Leaf.EVENTS, self.site), 1), (all_units_filter(Leaf.REQ, self.site), 1),
                          (all_units_filter(Leaf.CMD_RESULT, self.site), 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        self.connected.set()  # ready only once the broker has our subscriptions

    # ------------------------------------------------------------ messages
    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        unit = msg.topic.split("/")[3]
        if msg.topic.endswith("/events"):
            ev = EventEnvelope.from_bytes(msg.payload)
            with self.changed:
                self.received += 1
                got = self.events.setdefault(unit, {})
                if ev.seq in got:
                    self.duplicates += 1
                else:
                    if ev.seq != self.watermark.get(unit, 0) + 1:
                        self.out_of_order += 1
                    got[ev.seq] = ev
                w = self.watermark.get(unit, 0)
                while w + 1 in got:
                    w += 1
                advanced = w != self.watermark.get(unit, 0)
                self.watermark[unit] = w
                self.changed.notify_all()
            if self.ack_enabled and (advanced or ev.seq <= w):
                self.publish_ack(unit)
        elif msg.topic.endswith("/cmd/result"):
            with self.changed:
                self.command_results.append(CommandResult.from_bytes(msg.payload))
                self.changed.notify_all()
        elif msg.topic.endswith("/req"):
            req = Request.from_bytes(msg.payload)
            with self.lock:
                self.requests.append(req)
            resp = self.answer(req)
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = msg.properties.CorrelationData
            client.publish(msg.properties.ResponseTopic, resp.to_bytes(), qos=1, properties=props)
            if req.kind == RequestKind.PAYMENT_START and resp.ok and self.auto_pay_s is not None:
                t = threading.Timer(self.auto_pay_s, self.confirm_payment, args=(unit, req.case_id or ""))
                t.daemon = True
                t.start()

    def publish_ack(self, unit: str) -> None:
        ack = Ack(unit=unit, acked_seq=self.watermark.get(unit, 0), ts=time.time())
        self.client.publish(topic(self.site, unit, Leaf.ACK), ack.to_bytes(), qos=1, retain=True)

    def answer(self, req: Request) -> Response:
        b = req.body
        if req.kind == RequestKind.PARTNER_LOOKUP:
            key = b.get("id_number") or b.get("booking_number")
            if not key or str(key).startswith("UNKNOWN"):
                return Response(kind=req.kind, ok=False, error="not_found", detail="no partner record for this number")
            return Response(kind=req.kind, ok=True, body=reference_records(str(key)))
        if req.kind == RequestKind.PLATE_OPTIONS:
            auth = b.get("authority", "京A")
            ne = b.get("plate_kind") == "new-energy"
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
            opts = set()
            while len(opts) < int(b.get("count", 10)):
                tail = (self.rng.choice("DF") + self.rng.choice(letters) + "".join(self.rng.choice("0123456789") for _ in range(4))) if ne \
                    else "".join(self.rng.choice(letters) for _ in range(5))
                if auth + tail not in self.reserved:
                    opts.add(auth + tail)
            return Response(kind=req.kind, ok=True, body={"authority": auth, "plate_kind": b.get("plate_kind"), "numbers": sorted(opts)})
        if req.kind == RequestKind.PLATE_RESERVE:
            number, case_id = b.get("number"), req.case_id
            with self.lock:
                holder = self.reserved.get(number)
                if holder not in (None, case_id):
                    return Response(kind=req.kind, ok=False, error="taken", detail=f"{number} is reserved")
                self.reserved[number] = case_id or ""
            return Response(kind=req.kind, ok=True, body={"case_id": case_id, "number": number, "reserved_until": time.time() + 3600})
        if req.kind == RequestKind.PLATE_RELEASE:
            with self.lock:
                if self.reserved.get(b.get("number")) == req.case_id:
                    del self.reserved[b["number"]]
            return Response(kind=req.kind, ok=True)
        if req.kind == RequestKind.PAYMENT_START:
            with self.lock:
                pay = self.payments.setdefault(req.case_id or "", {"payment_id": "pay-" + uuid.uuid4().hex[:10], "amount_cents": 12500,
                                                                   "pay_url": "https://pay.example/" + (req.case_id or "")})
            return Response(kind=req.kind, ok=True, body=pay)
        if req.kind == RequestKind.CASE_STATE:
            with self.lock:
                pay = self.payments.get(req.case_id or "")
            return Response(kind=req.kind, ok=True, body={"case_id": req.case_id, "known": pay is not None,
                                                          "paid": bool(pay and pay.get("paid")), "payment_id": (pay or {}).get("payment_id")})
        return Response(kind=req.kind, ok=False, error="unsupported")

    def confirm_payment(self, unit: str, case_id: str) -> None:
        with self.lock:
            pay = self.payments.get(case_id)
            if pay is None:
                return
            pay["paid"] = True
        n = Notification(kind=NotificationKind.PAYMENT_CONFIRMED, case_id=case_id,
                         data={"payment_id": pay["payment_id"], "amount_cents": pay["amount_cents"]}, ts=time.time())
        self.client.publish(topic(self.site, unit, Leaf.NOTIFY), n.to_bytes(), qos=1)

    def expire_reservation(self, unit: str, case_id: str, number: str, taken_by: str | None = None) -> None:
        """The reservation ran out (optionally someone else took the number meanwhile); tell the lane."""
        with self.lock:
            if taken_by is None:
                self.reserved.pop(number, None)
            else:
                self.reserved[number] = taken_by
        n = Notification(kind=NotificationKind.RESERVATION_EXPIRED, case_id=case_id, data={"number": number}, ts=time.time())
        self.client.publish(topic(self.site, unit, Leaf.NOTIFY), n.to_bytes(), qos=1)

    def send_command(self, unit: str, cmd: RemoteCommand) -> None:
        self.client.publish(topic(self.site, unit, Leaf.CMD), cmd.to_bytes(), qos=1)

    # ------------------------------------------------------------ waiting
    def wait_for(self, predicate, timeout: float) -> bool:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.2))
        return True
