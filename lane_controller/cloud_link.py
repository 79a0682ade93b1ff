"""The lane's conversation with the cloud bridge: look-ups, plate numbers, payments and the bridge's notifications.

Every request is about one case and is asked again while the cloud is
unreachable (with a visible waiting reason), until the case has moved on.
Answers come back as case inputs through the lane.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from edge.contract import Notification, NotificationKind, PayloadError, PlateKind, RequestKind, Response
from edge.mqtt_session import CloudUnreachable
from lane_controller import case as C

if TYPE_CHECKING:
    from lane_controller.runtime import Lane

log = logging.getLogger("passlane.lane")


class CloudLink:
    """What one lane asks of the bridge, and what the bridge tells it."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    # ------------------------------------------------------------ asking
    async def ask(
        self, case_id: str, kind: RequestKind, body: dict[str, Any], stage: C.Stage | None, attempts: int | None = None
    ) -> Response | None:
        """The bridge's answer, or None when the case left `stage` (or `attempts` ran out) before one came."""
        lane = self.lane
        delay = 1.0
        n = 0
        while True:
            case = lane.cases.get(case_id)
            if stage is not None and (case is None or case.stage != stage):
                lane.waiting.pop(case_id, None)
                return None
            try:
                fut = lane.session.request_future(kind, body, case_id, lane.cfg.mqtt.request_timeout_s)
                resp = await asyncio.wrap_future(fut)
                if lane.waiting.pop(case_id, None) is not None:
                    lane.changes.bump()
                return resp
            except PayloadError as exc:  # a request the contract cannot carry: answered here, never retried
                lane.waiting.pop(case_id, None)
                return Response(kind=kind, ok=False, error="bad_request", detail=str(exc)[:300])
            except CloudUnreachable as exc:
                n += 1
                lane.waiting[case_id] = f"waiting for the cloud ({kind.value}): {exc}"
                lane.changes.bump()
                if attempts is not None and n >= attempts:
                    return None
                if not lane.session.connected.is_set():
                    await asyncio.to_thread(lane.session.connected.wait, delay)
                else:
                    await asyncio.sleep(delay)  # backoff between retries, not synchronisation
                delay = min(delay * 2, 10.0)

    async def lookup_partner(self, case_id: str, id_number: str | None, booking_number: str | None) -> None:
        body = {"id_number": id_number} if id_number else {"booking_number": booking_number}
        resp = await self.ask(case_id, RequestKind.PARTNER_LOOKUP, body, C.Stage.OPENED)
        if resp is not None:
            await self.lane.safe_apply(
                case_id,
                C.PartnerRecords(C.normalise_partner_answer(resp.body))
                if resp.ok
                else C.PartnerLookupFailed(resp.error or "error"),
            )

    async def fetch_plate_options(self, case_id: str, new_energy: bool) -> None:
        cfg = self.lane.cfg.plates
        kind = PlateKind.NEW_ENERGY if new_energy else PlateKind.ORDINARY
        body = {"authority": cfg.authority, "plate_kind": kind.value, "count": cfg.options_count, "case_id": case_id}
        resp = await self.ask(case_id, RequestKind.PLATE_OPTIONS, body, C.Stage.INSPECTED)
        if resp is not None and resp.ok:
            await self.lane.safe_apply(case_id, C.PlateOptions(tuple(resp.body["numbers"])))
        elif resp is not None:
            self.lane.alert(f"case:{case_id}", f"plate options: {resp.error} {resp.detail or ''}")

    def reserve_body(self, case: C.Case, number: str, composed: bool) -> dict[str, Any]:
        """The plate.reserve request body: the one place it is built."""
        return {
            "case_id": case.case_id,
            "authority": self.lane.cfg.plates.authority,
            "number": number,
            "composed": composed,
            "plate_kind": case.plate_kind.value,
        }

    async def reserve_plate(self, case_id: str, number: str, composed: bool) -> None:
        case = self.lane.cases.get(case_id)
        if case is None:
            return
        resp = await self.ask(
            case_id, RequestKind.PLATE_RESERVE, self.reserve_body(case, number, composed), C.Stage.INSPECTED
        )
        if resp is not None:
            until = resp.body.get("reserved_until")  # the bridge's answer (absent only on refusal)
            await self.lane.safe_apply(
                case_id,
                C.PlateReserved(resp.body.get("number") or number, until)
                if resp.ok
                else C.PlateReserveFailed(number, f"{resp.error}: {resp.detail or ''}".strip(": ")),
            )

    async def release_plate(self, case_id: str, number: str) -> None:
        await self.ask(case_id, RequestKind.PLATE_RELEASE, {"case_id": case_id, "number": number}, None, attempts=3)

    async def start_payment(self, case_id: str) -> None:
        resp = await self.ask(case_id, RequestKind.PAYMENT_START, {"case_id": case_id}, C.Stage.PLATE_RESERVED)
        if resp is not None and resp.ok:
            b = resp.body
            await self.lane.safe_apply(
                case_id,
                C.PaymentStarted(str(b.get("payment_id")), int(b.get("amount_cents", 0)), str(b.get("pay_url", ""))),
            )
            await self.check_payment(case_id)
        elif resp is not None:
            self.lane.alert(f"case:{case_id}", f"payment start: {resp.error} {resp.detail or ''}")

    async def check_payment(self, case_id: str) -> None:
        """Ask the cloud whether this case is paid (a confirmation may have arrived while the lane was down)."""
        resp = await self.ask(case_id, RequestKind.CASE_STATE, {"case_id": case_id}, C.Stage.PLATE_RESERVED, attempts=3)
        if resp is not None and resp.ok and resp.body.get("paid"):
            case = self.lane.cases.get(case_id)
            pid = resp.body.get("payment_id") or ((case.payment or {}).get("payment_id") if case else None)
            await self.lane.safe_apply(case_id, C.PaymentConfirmed(str(pid)), "cloud")

    async def reservation_expired(self, case_id: str, number: str) -> None:
        """The owner has not paid in time and the cloud let the number go: ask for it again for this case;
        if someone else has it now, hold the case with the reason (the inspector aborts or the owner re-chooses)."""
        case = self.lane.cases.get(case_id)
        if case is None or case.stage != C.Stage.PLATE_RESERVED or case.plate != number:
            return
        resp = await self.ask(
            case_id,
            RequestKind.PLATE_RESERVE,
            self.reserve_body(case, number, case.plate_composed),
            C.Stage.PLATE_RESERVED,
        )
        if resp is not None and resp.ok:
            self.lane.alert(
                f"case:{case_id}", f"plate reservation of {number} expired and was renewed (case {case_id})"
            )
        elif resp is not None:
            await self.lane.safe_apply(
                case_id,
                C.Hold(f"plate reservation of {number} expired and it is no longer free ({resp.error})"),
                "cloud",
            )

    # ------------------------------------------------------------ being told (paho's thread)
    def notification_threadsafe(self, n: Notification) -> None:
        """On paho's thread: block until the notification is journaled, so the PUBACK (sent when this
        returns) never acknowledges a payment confirmation that a crash could still lose."""
        loop = self.lane.loop
        if loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._notification(n), loop)
        try:
            fut.result(15)
        except Exception:
            log.exception("notification %s for %s not applied", n.kind, n.case_id)

    async def _notification(self, n: Notification) -> None:
        if n.kind == NotificationKind.PAYMENT_CONFIRMED:
            await self.lane.safe_apply(
                n.case_id, C.PaymentConfirmed(str(n.data.get("payment_id")), n.data.get("amount_cents")), "cloud"
            )
        elif n.kind == NotificationKind.RESERVATION_EXPIRED:
            self.lane.tasks.start(self.reservation_expired(n.case_id, str(n.data.get("number"))))

    def recheck_payments_threadsafe(self) -> None:
        """After a reconnect: ask again about every case waiting for its payment."""
        loop = self.lane.loop
        if loop is None:
            return

        def go() -> None:
            for c in list(self.lane.cases.values()):
                if c.stage == C.Stage.PLATE_RESERVED and c.payment:
                    self.lane.run_actions(c.case_id, [C.CheckPayment(c.payment.get("payment_id"))])

        loop.call_soon_threadsafe(go)
