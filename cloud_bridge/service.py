"""The bridge's answers to lanes and ops, over a store and a publisher. No MQTT or HTTP here.

`Service.handle_request` answers a lane's `Request` with a `Response`;
`Service.payment_callback` turns a verified provider callback into a paid
case and a `payment.confirmed` notification; `Service.send_command` records
and sends a remote command; `Service.ingest` stores lane messages and raises
the alerts the risk rules find in them. The publisher is any callable
``publish(topic, payload_bytes, qos, retain)``.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from cloud_bridge import payments as pay
from cloud_bridge.config import BridgeSettings
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.limits import TokenBuckets
from cloud_bridge.plates import random_options
from cloud_bridge.reference import PartnerAdapter, ReferenceDataAdapter
from cloud_bridge.rules import (
    RiskRulesConfig,
    load_rules,
    offline_unit_signals,
    open_case_signals,
    pass_rate_signals,
    track_missing_signals,
)
from cloud_bridge.store import Store
from edge.contract import (
    CommandName,
    Leaf,
    Notification,
    NotificationKind,
    PlateKind,
    RemoteCommand,
    Request,
    RequestKind,
    Response,
    case_owner,
    topic,
)
from edge.plate_numbers import PlateError, validate_number

Publish = Callable[[str, bytes, int, bool], None]
log = logging.getLogger("passlane.bridge")


def _no_publish(topic_name: str, payload: bytes, qos: int, retain: bool) -> None:
    pass


def _int(value: Any, default: int) -> int:
    """An integer request field (a bool or a float is not one), or the default when absent."""
    if value is None:
        return default
    if type(value) is not int:
        raise RequestError("bad_request", "count must be an integer")
    return value


class RequestError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


class Service:
    """Lane requests, payments, remote commands, ops actions and the periodic sweep; `rules` from `rules.file` unless given."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        publish: Publish | None = None,
        partner: PartnerAdapter | None = None,
        clock: Callable[[], float] = time.time,
        rules: RiskRulesConfig | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.rules = rules if rules is not None else load_rules(settings.rules.file)
        self.ingest = IngestService(store, self.rules)
        self.publish = publish or _no_publish
        self.partner = partner or ReferenceDataAdapter(store)
        self.clock = clock
        self._rng = random.Random(secrets.randbits(64))
        self._rng_lock = threading.Lock()
        self.limiter = TokenBuckets(settings.limits.requests_per_s, settings.limits.requests_burst)

    # ------------------------------------------------------------------ lane requests
    def handle_request(self, req: Request, site: str) -> Response | None:
        """The response to one request, or None when it expired before the bridge saw it.

        Every request is about one case of the asking unit (a case belongs to the unit that opened it,
        `edge.contract.case_owner`), within the unit's request rate and the per-case and per-unit quotas.
        """
        now = self.clock()
        if req.expires_at is not None and req.expires_at < now:
            return None
        if not self.limiter.allow(req.unit, now):
            return Response(
                kind=req.kind,
                ok=False,
                error="rate_limited",
                detail=f"more than {self.settings.limits.requests_per_s:g} requests per second from {req.unit}",
            )
        handler = {
            RequestKind.PARTNER_LOOKUP: self._partner_lookup,
            RequestKind.PLATE_OPTIONS: self._plate_options,
            RequestKind.PLATE_RESERVE: self._plate_reserve,
            RequestKind.PLATE_RELEASE: self._plate_release,
            RequestKind.PAYMENT_START: self._payment_start,
            RequestKind.CASE_STATE: self._case_state,
        }[req.kind]
        try:
            case_id = self._own_case(req)
            body = handler(req, case_id, site, now)
        except RequestError as exc:
            return Response(kind=req.kind, ok=False, error=exc.code, detail=exc.detail or None)
        return Response(kind=req.kind, ok=True, body=body)

    def _own_case(self, req: Request) -> str:
        """The request's case id, refused unless the asking unit opened that case and it is still open."""
        named = req.body.get("case_id")
        if named is not None and req.case_id is not None and named != req.case_id:
            raise RequestError("bad_request", "case_id differs between the request and its body")
        case_id = named if named is not None else req.case_id
        if not case_id or not isinstance(case_id, str):
            raise RequestError("bad_request", "case_id is required")
        if case_owner(case_id) != req.unit:
            raise RequestError("not_your_case", f"case {case_id[:64]!r} was not opened by {req.unit}")
        known = self.store.cases.status(case_id)
        if known is not None and known.get("unit") not in (None, req.unit):
            raise RequestError("not_your_case", f"case {case_id} belongs to {known['unit']}")
        if known is not None and known.get("closed_at") is not None and req.kind != RequestKind.CASE_STATE:
            raise RequestError("case_closed", f"case {case_id} is closed ({known.get('outcome')})")
        return case_id

    def _partner_lookup(self, req: Request, case_id: str, site: str, now: float) -> dict[str, Any]:
        b = req.body
        idn, booking, vin = b.get("id_number"), b.get("booking_number"), b.get("vin")
        if not (idn or booking or vin):
            raise RequestError("bad_request", "id_number or booking_number is required")
        if not all(x is None or (isinstance(x, str) and len(x) <= 64) for x in (idn, booking, vin)):
            raise RequestError("bad_request", "id_number, booking_number and vin are strings of at most 64 characters")
        if (
            self.store.case_requests.count(case_id, RequestKind.PARTNER_LOOKUP.value)
            > self.settings.limits.lookups_per_case
        ):
            raise RequestError(
                "quota", f"more than {self.settings.limits.lookups_per_case} look-ups for case {case_id}"
            )
        answer = self.partner.lookup(id_number=idn, booking_number=booking, vin=None if (idn or booking) else vin)
        if answer is None:
            raise RequestError("not_found", "no partner records")
        vehicles = answer.vehicles
        if vin and (idn or booking):
            vehicles = [v for v in vehicles if v["vin"] == vin]
        return {"owner": answer.owner.model_dump() if answer.owner else None, "vehicles": vehicles}

    def _authority(self, req: Request) -> str:
        authority = req.body.get("authority") or self.settings.authorities[0]
        if authority not in self.settings.authorities:
            raise RequestError(
                "unknown_authority", f"{authority!r} is not served here ({', '.join(self.settings.authorities)})"
            )
        return authority

    @staticmethod
    def _kind(req: Request) -> PlateKind:
        try:
            return PlateKind(req.body.get("plate_kind") or PlateKind.ORDINARY)
        except ValueError:
            raise RequestError("bad_request", f"plate_kind must be one of {[k.value for k in PlateKind]}") from None

    def _plate_options(self, req: Request, case_id: str, site: str, now: float) -> dict[str, Any]:
        authority = self._authority(req)
        kind = self._kind(req)
        count = _int(req.body.get("count"), self.settings.plates.options_default)
        count = max(1, min(count, 200))
        if self.store.plates.offers_made(case_id) + count > self.settings.limits.offers_per_case:
            raise RequestError(
                "quota", f"more than {self.settings.limits.offers_per_case} numbers offered to case {case_id}"
            )
        with self._rng_lock:
            candidates = random_options(
                authority, kind, count * 2, self.settings.plates, self._rng, fuel_type=req.body.get("fuel_type")
            )
        taken = self.store.plates.taken(candidates, now)
        numbers = [n for n in candidates if n not in taken][:count]
        self.store.plates.record_offers(case_id, req.unit, numbers, now)
        return {"authority": authority, "plate_kind": kind.value, "numbers": numbers}

    def _plate_reserve(self, req: Request, case_id: str, site: str, now: float) -> dict[str, Any]:
        authority = self._authority(req)
        kind = self._kind(req)
        number = req.body.get("number")
        if not isinstance(number, str) or len(number) > 16:
            raise RequestError("bad_request", "number is required (at most 16 characters)")
        composed = req.body.get("composed", False) is True
        try:
            number = validate_number(number, authority, kind, self.settings.plates, composed=composed)
        except PlateError as exc:
            raise RequestError(exc.code, str(exc)) from None
        if not composed and not self.store.plates.was_offered(case_id, number):
            raise RequestError(
                "not_offered", f"{number} was not offered to case {case_id}: choose an offered number or compose one"
            )
        held = self.store.plates.held_by_unit(req.unit, now, case_id)
        if held >= self.settings.limits.reservations_per_unit:
            raise RequestError("quota", f"{req.unit} already holds {held} reserved numbers")
        out = self.store.plates.reserve(
            number, authority, kind.value, case_id, req.unit, self.settings.plates.reservation_s, now
        )
        if not out.ok:
            raise RequestError("taken", f"{number} is reserved or issued for another case")
        return {"case_id": case_id, "number": number, "reserved_until": out.reserved_until, "released": out.released}

    def _plate_release(self, req: Request, case_id: str, site: str, now: float) -> dict[str, Any]:
        number = req.body.get("number")
        if not isinstance(number, str) or len(number) > 16:
            raise RequestError("bad_request", "number is required (at most 16 characters)")
        return {"case_id": case_id, "number": number, "released": self.store.plates.release(number, case_id)}

    def _payment_start(self, req: Request, case_id: str, site: str, now: float) -> dict[str, Any]:
        items = req.body.get("items") or list(self.settings.payments.fees_cents)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items) or len(items) > 20:
            raise RequestError("bad_request", "items must be a list of fee names")
        unknown = [i[:32] for i in items if i not in self.settings.payments.fees_cents]
        if unknown:
            raise RequestError("unknown_item", f"no fee for {', '.join(unknown)}")
        if not self.store.plates.held_by_case(case_id, now):
            raise RequestError("no_plate", f"case {case_id} holds no reserved or issued plate number to pay for")
        amount = sum(self.settings.payments.fees_cents[i] for i in items)
        p = self.store.payments.create(case_id, req.unit, site, amount, items, now)
        return {
            "case_id": case_id,
            "payment_id": p["payment_id"],
            "amount_cents": int(p["amount_cents"]),
            "pay_url": self.pay_url(p["payment_id"]),
        }

    def pay_url(self, payment_id: str) -> str:
        base = self.settings.http.public_url or f"http://{self.settings.http.listen}"
        return f"{base.rstrip('/')}/pay/{payment_id}"

    def _case_state(self, req: Request, case_id: str, site: str, now: float) -> dict[str, Any]:
        case = self.store.case(case_id)
        plates = self.store.plates.numbers(case_id)
        payments = (case or {}).get("payments") or []
        paid = [p for p in payments if p["status"] == "paid"]
        plate = next((p for p in plates if p["status"] == "issued"), None) or next(
            (p for p in plates if p["status"] == "reserved" and (p["reserved_until"] or 0) >= now), None
        )
        return {
            "case_id": case_id,
            "known": case is not None,
            "paid": bool(paid),
            "payment_id": paid[0]["payment_id"] if paid else (payments[-1]["payment_id"] if payments else None),
            "plate": plate["number"] if plate else None,
            "plate_status": plate["status"] if plate else None,
            "reserved_until": plate["reserved_until"] if plate else None,
            "outcome": (case or {}).get("outcome"),
            "stage": (case or {}).get("stage"),
        }

    # ------------------------------------------------------------------ payments
    def payment_callback(self, body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer) for a provider callback. Only signed, fresh, unreplayed callbacks change anything."""
        now = self.clock()
        try:
            key = self.settings.payments.key()
        except ValueError:
            return 503, {"error": "no_key", "detail": "the bridge has no payment provider key"}
        try:
            v = pay.verify(key, body, signature, now, self.settings.payments.max_skew_s)
        except pay.SignatureError as exc:
            return 401, {"error": exc.code, "detail": str(exc)}
        if not self.store.payments.use_nonce(v.nonce, now):
            return 409, {"error": "replayed", "detail": "this callback was already received"}
        try:
            data = pay.parse_callback(body)  # exact amounts only: 11000.99 is refused, never truncated to 11000
        except pay.CallbackError as exc:
            return 400, {"error": exc.code, "detail": str(exc)}
        payment_id, status, amount = data.payment_id, data.status, data.cents()
        p = self.store.payments.get(payment_id)
        if p is None:
            return 404, {"error": "unknown_payment"}
        if status != "paid":
            return 200, {"payment_id": payment_id, "status": p["status"], "ignored": status}
        if amount != int(p["amount_cents"]):
            return 400, {"error": "amount_mismatch", "detail": f"expected {p['amount_cents']}"}
        row, newly = self.store.payments.mark_paid(payment_id, now)
        assert row is not None
        if newly:
            n = Notification(
                kind=NotificationKind.PAYMENT_CONFIRMED,
                case_id=row["case_id"],
                data={"payment_id": payment_id, "amount_cents": int(row["amount_cents"])},
                ts=now,
            )
            self.publish(topic(row["site"], row["unit"], Leaf.NOTIFY), n.to_bytes(), 1, False)
        return 200, {"payment_id": payment_id, "status": "paid", "case_id": row["case_id"], "already_paid": not newly}

    # ------------------------------------------------------------------ remote commands
    def send_command(
        self,
        site: str,
        unit: str,
        command: CommandName,
        args: dict[str, Any],
        issued_by: str,
        reason: str,
        ttl_s: float = 60.0,
    ) -> RemoteCommand:
        now = self.clock()
        cmd = RemoteCommand(
            request_id=secrets.token_hex(8),
            command=command,
            args=args,
            issued_by=issued_by,
            reason=reason,
            issued_at=now,
            expires_at=now + ttl_s,
        )
        self.store.commands.record(
            {
                "request_id": cmd.request_id,
                "site": site,
                "unit": unit,
                "command": command.value,
                "args": args,
                "issued_by": issued_by,
                "reason": reason,
                "issued_at": now,
                "expires_at": cmd.expires_at,
            }
        )
        self.store.audit.append(
            issued_by,
            "command.sent",
            f"{site}/{unit}",
            {
                "request_id": cmd.request_id,
                "command": command.value,
                "args": args,
                "reason": reason,
                "expires_at": cmd.expires_at,
            },
        )
        self.publish(topic(site, unit, Leaf.CMD), cmd.to_bytes(), 1, False)
        return cmd

    # ------------------------------------------------------------------ ops actions (dashboard and API)
    def acknowledge_alert(self, alert_id: int, who: str) -> bool:
        """Acknowledge an open alert by name; audited. False when no open alert has that id."""
        now = self.clock()
        if not self.store.alerts.acknowledge(alert_id, who, now):
            return False
        self.store.audit.append(who, "alert.acknowledge", f"alert/{alert_id}", {"alert_id": alert_id}, now)
        return True

    def resolve_alert(self, alert_id: int, who: str) -> bool:
        """Resolve an unresolved alert by name; audited. False when no unresolved alert has that id."""
        now = self.clock()
        if not self.store.alerts.resolve(alert_id, who, now):
            return False
        self.store.audit.append(who, "alert.resolve", f"alert/{alert_id}", {"alert_id": alert_id}, now)
        return True

    def release_reservation(self, number: str, who: str) -> bool | None:
        """Release a reserved plate number by hand (issued numbers never are); audited. None when it is not reserved."""
        row = self.store.plates.number(number)
        if row is None or row["status"] != "reserved":
            return None
        released = self.store.plates.release(number, row["case_id"])
        self.store.audit.append(who, "plate_pool.release", f"plate/{number}", {"case_id": row["case_id"]}, self.clock())
        return released

    # ------------------------------------------------------------------ periodic sweep
    def sweep(self) -> dict[str, int]:
        """Fold orphaned events, expire reservations (and tell their lanes), judge open cases and silent units."""
        now = self.clock()
        try:
            self.ingest.fold_pending(60.0)  # events whose worker died between storing and folding them
        except Exception:
            log.exception("folding orphaned events failed")
        expired = self.store.plates.expire(now)
        self.store.plates.forget_offers(now - 86400)  # offers of cases long over; a live case re-asks for options
        units = {u["unit"]: u for u in self.store.unit_records.units()}
        for r in expired:
            site = units.get(r["unit"] or "", {}).get("site")
            if site and r["case_id"]:
                n = Notification(
                    kind=NotificationKind.RESERVATION_EXPIRED,
                    case_id=r["case_id"],
                    data={"number": r["number"]},
                    ts=now,
                )
                self.publish(topic(site, r["unit"], Leaf.NOTIFY), n.to_bytes(), 1, False)
        signals = open_case_signals(self.store.cases.still_open(), now, self.rules) + offline_unit_signals(
            list(units.values()), now, self.rules
        )
        signals += self._exam_signals(now)
        self.store.alerts.raise_all(signals, now)
        return {"expired": len(expired), "signals": len(signals)}

    def _exam_signals(self, now: float) -> list[Any]:
        """The periodic exam rules: pass rates that deviate from their site's, tracks that never arrived complete."""
        r = self.rules
        judged = self.store.exams.judged_since(now - r.exam_rate_window_days * 86400.0)
        missing = self.store.exams.tracks_missing(now - r.exam_track_grace_s)
        return pass_rate_signals(judged, r) + track_missing_signals(missing, now, r)
