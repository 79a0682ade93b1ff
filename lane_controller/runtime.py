"""The running lane: the pure case machine wired to the journal, the cloud, the boards and the camera.

One asyncio loop owns the lane. Every input goes through :meth:`Lane.apply`:
the pure :func:`~lane_controller.case.step` decides, the journal records the
new case state and its events in one transaction, then the actions run as
tasks whose results come back as inputs. A crash at any point leaves the
journal consistent; on start every open case is re-read and its
:func:`~lane_controller.case.pending` actions are run again (all idempotent).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import hmac
import logging
import time
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.config import LaneConfig, load_config
from edge.contract import (
    CommandName, CommandStatus, EventKind, Notification, NotificationKind, PayloadError, PlateKind, RemoteCommand, RequestKind, Response,
    Telemetry,
    new_case_id,
)
from edge.journal import CaseRow, Journal, NewEvent
from edge.mqtt_session import CloudUnreachable, MqttSession, SessionSettings
from edge.outbox import Outbox
from edge.remote_commands import CommandDispatcher
from edge.telemetry import TelemetryPublisher, sample
from lane_controller import case as C
from lane_controller.hardware import BoardHardware, HardwareFault
from lane_controller.vin_camera import CameraError, VinCamera, VinReading, crop_jpeg

log = logging.getLogger("passlane.lane")


def rules_from(cfg: LaneConfig) -> C.Rules:
    return C.Rules(items={k: tuple(v) for k, v in cfg.inspection.items.items()}, required_photos=tuple(cfg.inspection.required_photos),
                   compose_pattern=cfg.plates.compose_pattern, compose_pattern_new_energy=cfg.plates.compose_pattern_new_energy,
                   authority=cfg.plates.authority, min_inspection_s=cfg.inspection.min_inspection_s)


def hardware_from(cfg: LaneConfig) -> BoardHardware:
    """The lane-bus boards named in lane.toml (both URLs are required)."""
    return BoardHardware(cfg.io_board.url, cfg.plate_issuer.url)


class Lane:
    def __init__(self, cfg: LaneConfig, *, hardware: BoardHardware | None = None, session: MqttSession | None = None,
                 reader: VinReading | None = None, clock: Callable[[], float] = time.time, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.clock = clock
        self.rules = rules_from(cfg)
        self.data_dir = cfg.journal.path.parent
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(cfg.journal.path, cfg.unit)
        self.hw = hardware if hardware is not None else hardware_from(cfg)
        # the lane always has its cloud link: there is no mode that runs cases without the bridge
        self.session: MqttSession = session if session is not None else MqttSession(SessionSettings.from_lane_config(cfg))
        self.outbox = Outbox(self.journal, self.session, resend_after_s=cfg.outbox.resend_after_s, window=cfg.outbox.batch,
                             alarm_depth=cfg.outbox.alarm_depth)
        self.camera = VinCamera(cfg.camera.source)
        # the reader is loaded here, at start-up: a broken model installation stops the lane with the cause
        # (ReaderUnavailable) instead of quietly sending every VIN to the inspector
        self.reader = reader if reader is not None else VinReading(load=True)
        self.cases: dict[str, C.Case] = {}
        self.waiting: dict[str, str] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.device_state: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.started_at = clock()
        self.step_ms: list[float] = []
        self._lock = asyncio.Lock()
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self.telemetry: TelemetryPublisher | None = None
        self.commands: CommandDispatcher | None = None
        self.last_hw_status: dict[str, Any] = {}
        # camera, VIN model and image files share one worker thread: one malloc arena for the big frames
        self._vision = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vision")

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        self.hw.on_vehicle_passed = self._vehicle_passed
        self.hw.on_fault = self._device_fault
        self.hw.on_issue_progress = self._issue_progress
        for row in self.journal.open_cases():
            try:
                self.cases[row.case_id] = C.Case.model_validate(row.state)
            except ValueError as exc:
                self._alert(f"case:{row.case_id}", f"case {row.case_id} could not be restored: {exc}")
        try:
            await self.hw.start()
        except Exception as exc:  # noqa: BLE001 - start without boards; the alert says why
            await self._device_fault("io-board", f"could not start: {exc}", False)
        await self.refresh_hardware()
        self.session.on_notification.append(self._notification_threadsafe)
        self.commands = CommandDispatcher(self.journal, self.session, self._command_handlers(), self.clock)
        self.commands.attach()
        self.session.on_connected.append(self._changed_threadsafe)
        self.session.on_connected.append(self._recheck_payments_threadsafe)
        self.session.on_disconnected.append(self._changed_threadsafe)
        self.outbox.start()
        self.session.start()
        self.telemetry = TelemetryPublisher(self.session, self._telemetry, self.cfg.telemetry.interval_s)
        self.telemetry.start()
        self._spawn(self._watch_promise())
        for case in list(self.cases.values()):
            log.info("resuming case %s at stage %s", case.case_id, case.stage)
            self._run(case.case_id, C.pending(case))

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self.telemetry:
            self.telemetry.stop()
        self.outbox.stop()
        await asyncio.to_thread(self.session.stop)
        try:
            await self.hw.close()
        except Exception:  # noqa: BLE001
            log.exception("closing hardware")
        self._vision.shutdown(wait=False, cancel_futures=True)
        self.journal.close()

    # ------------------------------------------------------------ change notification (SSE)
    def _bump(self) -> None:
        self.version += 1
        if self._changed is not None:
            cond = self._changed

            async def notify() -> None:
                async with cond:
                    cond.notify_all()

            self._spawn(notify())

    def _changed_threadsafe(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._bump)

    async def wait_change(self, version: int, timeout: float) -> int:
        assert self._changed is not None
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != version), timeout)
            except asyncio.TimeoutError:
                pass
        return self.version

    def _spawn(self, coro: Any) -> asyncio.Task:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # ------------------------------------------------------------ inputs
    def open_case_for(self, station: str) -> C.Case | None:
        for c in self.cases.values():
            if c.station == station and c.is_open:
                return c
        return None

    async def open_case(self, station: str, id_number: str | None, booking_number: str | None, actor: str) -> C.Case:
        if station not in self.cfg.stations:
            raise C.Refused(f"unknown station {station}")
        async with self._lock:
            t0 = time.perf_counter()
            open_by_station = {c.station: c.case_id for c in self.cases.values() if c.is_open}
            case_id = new_case_id(self.cfg.unit, time.strftime("%y%m%d", time.localtime(self.clock())), uuid.uuid4().hex[:6])
            st = C.open_case(open_by_station, C.Open(case_id, station, id_number or None, booking_number or None), self.clock())
            self._commit(st, actor)
            self.step_ms.append((time.perf_counter() - t0) * 1000)
        self._run(case_id, st.actions)
        return st.case

    async def apply(self, case_id: str, inp: C.Input, actor: str) -> C.Case:
        async with self._lock:
            t0 = time.perf_counter()
            case = self.cases.get(case_id)
            if case is None:
                raise C.Refused(f"no open case {case_id}")
            st = C.step(case, inp, self.clock(), self.rules)
            self._commit(st, actor)
            self.step_ms.append((time.perf_counter() - t0) * 1000)
            del self.step_ms[:-5000]
        actions = list(st.actions)
        if isinstance(inp, C.Resume):
            actions += C.pending(st.case)
        self._run(case_id, actions)
        return st.case

    def _commit(self, st: C.Step, actor: str) -> None:
        c = st.case
        now = self.clock()
        events = [NewEvent(e.kind, case_id=c.case_id, station=c.station, actor=actor, data=e.data, ts=now) for e in st.events]
        self.journal.record(events, CaseRow(c.case_id, c.station, c.stage.value, c.is_open, c.model_dump(mode="json")), now=now)
        if c.is_open:
            self.cases[c.case_id] = c
        else:
            self.cases.pop(c.case_id, None)
            self.waiting.pop(c.case_id, None)
        self._bump()

    def record(self, kind: EventKind, data: dict[str, Any], actor: str = "system", case_id: str | None = None) -> None:
        self.journal.record([NewEvent(kind, case_id=case_id, actor=actor, data=data, ts=self.clock())], now=self.clock())
        self._bump()

    async def _safe_apply(self, case_id: str, inp: C.Input, actor: str = "system") -> None:
        try:
            await self.apply(case_id, inp, actor)
        except C.Refused as exc:
            log.info("case %s: %s refused: %s", case_id, type(inp).__name__, exc.reason)

    # ------------------------------------------------------------ actions
    def _run(self, case_id: str, actions: list[C.Action]) -> None:
        """The actions of one step run in order (open the barrier, then the green light), as one task."""
        if actions:
            self._spawn(self._execute_all(case_id, actions))

    async def _execute_all(self, case_id: str, actions: list[C.Action]) -> None:
        for a in actions:
            if not await self._execute(case_id, a) and isinstance(a, C.OpenBarrier):
                return  # the barrier did not open: the green light that follows must not come on

    async def _execute(self, case_id: str, a: C.Action) -> bool:
        try:
            await self._execute_inner(case_id, a)
            return True
        except HardwareFault as f:
            self._alert(f"device:{f.device}", f"{f.device}: {f.detail}")
            self.record(EventKind.DEVICE_FAULT, {"device": f.device, "detail": f.detail, "action": type(a).__name__}, case_id=case_id)
            case = self.cases.get(case_id)
            if case is not None and not case.hold and isinstance(a, C.OpenBarrier):
                await self._safe_apply(case_id, C.Hold(f"{f.device}: {f.detail}"))
            return False
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - never crash the lane on one action
            log.exception("action %s for %s failed", a, case_id)
            self._alert(f"action:{case_id}", f"{type(a).__name__} failed: {exc}")
            return False

    async def _execute_inner(self, case_id: str, a: C.Action) -> None:
        match a:
            case C.LookupPartner(id_number, booking_number):
                body = {"id_number": id_number} if id_number else {"booking_number": booking_number}
                resp = await self._cloud(case_id, RequestKind.PARTNER_LOOKUP, body, C.Stage.OPENED)
                if resp is not None:
                    await self._safe_apply(case_id, C.PartnerRecords(C.normalise_partner_answer(resp.body)) if resp.ok
                                           else C.PartnerLookupFailed(resp.error or "error"))
            case C.OpenBarrier(barrier):
                await self.hw.open_barrier(barrier)
                await self.refresh_hardware()
            case C.CloseBarrier(barrier):
                await self.hw.close_barrier(barrier)
                await self.refresh_hardware()
            case C.SetLight(barrier, colour):
                await self.hw.set_light(barrier, colour)
                await self.refresh_hardware()
            case C.CaptureVin():
                await self.capture_vin(case_id)
            case C.FetchPlateOptions(new_energy):
                kind = PlateKind.NEW_ENERGY if new_energy else PlateKind.ORDINARY
                body = {"authority": self.cfg.plates.authority, "plate_kind": kind.value, "count": self.cfg.plates.options_count, "case_id": case_id}
                resp = await self._cloud(case_id, RequestKind.PLATE_OPTIONS, body, C.Stage.INSPECTED)
                if resp is not None and resp.ok:
                    options = resp.body["numbers"]
                    await self._safe_apply(case_id, C.PlateOptions(tuple(options)))
                elif resp is not None:
                    self._alert(f"case:{case_id}", f"plate options: {resp.error} {resp.detail or ''}")
            case C.ReservePlate(number, composed):
                case = self.cases.get(case_id)
                if case is None:
                    return
                body = self._reserve_body(case, number, composed)
                resp = await self._cloud(case_id, RequestKind.PLATE_RESERVE, body, C.Stage.INSPECTED)
                if resp is not None:
                    until = resp.body.get("reserved_until")  # the bridge's answer (absent only on refusal)
                    await self._safe_apply(case_id, C.PlateReserved(resp.body.get("number") or number, until) if resp.ok
                                           else C.PlateReserveFailed(number, f"{resp.error}: {resp.detail or ''}".strip(": ")))
            case C.ReleasePlate(number):
                await self._cloud(case_id, RequestKind.PLATE_RELEASE, {"case_id": case_id, "number": number}, None, attempts=3)
            case C.StartPayment(plate):
                resp = await self._cloud(case_id, RequestKind.PAYMENT_START, {"case_id": case_id}, C.Stage.PLATE_RESERVED)
                if resp is not None and resp.ok:
                    b = resp.body
                    await self._safe_apply(case_id, C.PaymentStarted(str(b.get("payment_id")), int(b.get("amount_cents", 0)), str(b.get("pay_url", ""))))
                    await self._check_payment(case_id)
                elif resp is not None:
                    self._alert(f"case:{case_id}", f"payment start: {resp.error} {resp.detail or ''}")
            case C.CheckPayment():
                await self._check_payment(case_id)
            case C.IssuePlates(job_id, plate_type, text):
                self.waiting[case_id] = "plate issuer working"
                self._bump()
                try:
                    await self.hw.issue(job_id, plate_type, text)
                except HardwareFault as f:
                    self.waiting.pop(case_id, None)
                    self._alert(f"device:{f.device}", f"{f.device}: {f.detail}")
                    self.record(EventKind.DEVICE_FAULT, {"device": f.device, "detail": f.detail, "job_id": job_id}, case_id=case_id)
                    await self._safe_apply(case_id, C.IssueFailed(job_id, f.detail))
                    return
                self.waiting.pop(case_id, None)
                await self._safe_apply(case_id, C.PlatesIssued(job_id))

    async def _check_payment(self, case_id: str) -> None:
        """Ask the cloud whether this case is paid (a confirmation may have arrived while the lane was down)."""
        resp = await self._cloud(case_id, RequestKind.CASE_STATE, {"case_id": case_id}, C.Stage.PLATE_RESERVED, attempts=3)
        if resp is not None and resp.ok and resp.body.get("paid"):
            case = self.cases.get(case_id)
            pid = resp.body.get("payment_id") or ((case.payment or {}).get("payment_id") if case else None)
            await self._safe_apply(case_id, C.PaymentConfirmed(str(pid)), "cloud")

    async def _cloud(self, case_id: str, kind: RequestKind, body: dict[str, Any], stage: C.Stage | None, attempts: int | None = None):  # noqa: ANN202
        """Ask the cloud; while it is unreachable, wait with a visible reason (local work goes on)."""
        delay = 1.0
        n = 0
        while True:
            case = self.cases.get(case_id)
            if stage is not None and (case is None or case.stage != stage):
                self.waiting.pop(case_id, None)
                return None
            try:
                fut = self.session.request_future(kind, body, case_id, self.cfg.mqtt.request_timeout_s)
                resp = await asyncio.wrap_future(fut)
                if self.waiting.pop(case_id, None) is not None:
                    self._bump()
                return resp
            except PayloadError as exc:  # a request the contract cannot carry: answered here, never retried
                self.waiting.pop(case_id, None)
                return Response(kind=kind, ok=False, error="bad_request", detail=str(exc)[:300])
            except CloudUnreachable as exc:
                n += 1
                self.waiting[case_id] = f"waiting for the cloud ({kind.value}): {exc}"
                self._bump()
                if attempts is not None and n >= attempts:
                    return None
                if not self.session.connected.is_set():
                    await asyncio.to_thread(self.session.connected.wait, delay)
                else:
                    await asyncio.sleep(delay)  # backoff between retries, not synchronisation
                delay = min(delay * 2, 10.0)

    async def capture_vin(self, case_id: str) -> None:
        case = self.cases.get(case_id)
        if case is None:
            return
        self.waiting[case_id] = "reading VIN"
        self._bump()
        try:
            frame = await self._in_vision(self.camera.grab)
            res = await self._in_vision(self.reader.read, frame)
            img = await self._in_vision(crop_jpeg, frame, res.box, self.data_dir / "photos" / case_id / f"vin-{int(self.clock() * 1000)}.jpg")
            del frame
            await self._in_vision(release_memory)
        except Exception as exc:  # noqa: BLE001 - a camera fault: the inspector reviews by eye
            self._alert("device:camera", f"VIN camera: {exc}")
            self.record(EventKind.DEVICE_FAULT, {"device": "camera", "detail": str(exc)}, case_id=case_id)
            res, img = None, None
        finally:
            self.waiting.pop(case_id, None)
        if res is None:
            await self._safe_apply(case_id, C.VinRead(None, "none", 0.0, "invalid", None))
        else:
            await self._safe_apply(case_id, C.VinRead(res.vin, res.decision, round(res.confidence, 4), res.check_digit, str(img.relative_to(self.data_dir)), res.ms,
                                                          res.review_reason))

    async def _in_vision(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._vision, fn, *args)

    async def save_photo(self, case_id: str, code: str, data: bytes | None, actor: str) -> C.Case:
        """A checklist photo: uploaded from the tablet, or taken by the station camera when ``data`` is None."""
        case = self.cases.get(case_id)
        if case is None:
            raise C.Refused(f"no open case {case_id}")
        path = self.data_dir / "photos" / case_id / f"{code}-{int(self.clock() * 1000)}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            import cv2

            try:
                frame = await self._in_vision(self.camera.grab)
            except CameraError as exc:  # the inspector sees why and uploads a photo from the tablet instead
                raise C.Refused(f"station camera: {exc}") from None
            await self._in_vision(cv2.imwrite, str(path), frame)
            del frame
            await self._in_vision(release_memory)
        else:
            await asyncio.to_thread(path.write_bytes, data)
        return await self.apply(case_id, C.Photo(code, str(path.relative_to(self.data_dir))), actor)

    # ------------------------------------------------------------ device events
    async def _vehicle_passed(self, barrier: str) -> None:
        for c in sorted(self.cases.values(), key=lambda c: c.opened_at):
            if barrier == "entry" and c.stage == C.Stage.RECORDS_FETCHED and c.entry_requested:
                await self._safe_apply(c.case_id, C.VehiclePassed("entry"))
                break
            if barrier == "exit" and c.stage == C.Stage.EXIT_OPEN:
                await self._safe_apply(c.case_id, C.VehiclePassed("exit"))
                break
        await self.refresh_hardware()

    def _issue_progress(self, job_id: str, state: str, plates_done: int) -> None:
        for c in self.cases.values():
            if c.issue_job == job_id and c.stage == C.Stage.PAID:
                self.waiting[c.case_id] = f"plate issuer: {state}, {plates_done} plate(s) done"
                self._bump()

    async def _watch_promise(self, period_s: float = 5.0) -> None:
        """Raise an alert (once per case) when an open case passes the entry-to-exit promise."""
        warned: set[str] = set()
        while True:
            now = self.clock()
            for c in list(self.cases.values()):
                if c.case_id not in warned and c.over_promise(now, self.cfg.promise_minutes * 60):
                    warned.add(c.case_id)
                    self._alert(f"promise:{c.case_id}", f"case {c.case_id} at station {c.station} is over the "
                                f"{self.cfg.promise_minutes:.0f}-minute promise ({C.waiting_for(c) or c.stage.value})")
            await asyncio.sleep(period_s)  # a periodic check, not synchronisation

    async def _device_fault(self, device: str, detail: str, recovered: bool) -> None:
        if recovered:
            self.alerts.pop(f"device:{device}", None)
            self.device_state[device] = {"online": True, "detail": ""}
            self.record(EventKind.DEVICE_RECOVERED, {"device": device})
        else:
            self.device_state[device] = {"online": False, "detail": detail}
            self._alert(f"device:{device}", f"{device}: {detail}")
            self.record(EventKind.DEVICE_FAULT, {"device": device, "detail": detail})
        self._bump()

    async def refresh_hardware(self) -> None:
        try:
            self.last_hw_status = await self.hw.status()
        except Exception as exc:  # noqa: BLE001
            self.last_hw_status = {"error": str(exc)}
        self._bump()

    def _alert(self, key: str, text: str) -> None:
        self.alerts[key] = {"key": key, "text": text, "ts": self.clock()}
        self._bump()

    def clear_alert(self, key: str) -> None:
        self.alerts.pop(key, None)
        self._bump()

    # ------------------------------------------------------------ the cloud's notifications and commands
    def _recheck_payments_threadsafe(self) -> None:
        if self._loop is None:
            return

        def go() -> None:
            for c in list(self.cases.values()):
                if c.stage == C.Stage.PLATE_RESERVED and c.payment:
                    self._run(c.case_id, [C.CheckPayment(c.payment.get("payment_id"))])

        self._loop.call_soon_threadsafe(go)

    def _notification_threadsafe(self, n: Notification) -> None:
        """On paho's thread: block until the notification is journaled, so the PUBACK (sent when this
        returns) never acknowledges a payment confirmation that a crash could still lose."""
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._notification(n), self._loop)
        try:
            fut.result(15)
        except Exception:  # noqa: BLE001
            log.exception("notification %s for %s not applied", n.kind, n.case_id)

    async def _notification(self, n: Notification) -> None:
        if n.kind == NotificationKind.PAYMENT_CONFIRMED:
            await self._safe_apply(n.case_id, C.PaymentConfirmed(str(n.data.get("payment_id")), n.data.get("amount_cents")), "cloud")
        elif n.kind == NotificationKind.RESERVATION_EXPIRED:
            self._spawn(self._reservation_expired(n.case_id, str(n.data.get("number"))))

    def _reserve_body(self, case: C.Case, number: str, composed: bool) -> dict[str, Any]:
        """The plate.reserve request body: the one place it is built."""
        return {"case_id": case.case_id, "authority": self.cfg.plates.authority, "number": number, "composed": composed,
                "plate_kind": case.plate_kind.value}

    async def _reservation_expired(self, case_id: str, number: str) -> None:
        """The owner has not paid in time and the cloud let the number go: ask for it again for this case;
        if someone else has it now, hold the case with the reason (the inspector aborts or the owner re-chooses)."""
        case = self.cases.get(case_id)
        if case is None or case.stage != C.Stage.PLATE_RESERVED or case.plate != number:
            return
        body = self._reserve_body(case, number, case.plate_composed)
        resp = await self._cloud(case_id, RequestKind.PLATE_RESERVE, body, C.Stage.PLATE_RESERVED)
        if resp is not None and resp.ok:
            self._alert(f"case:{case_id}", f"plate reservation of {number} expired and was renewed (case {case_id})")
        elif resp is not None:
            await self._safe_apply(case_id, C.Hold(f"plate reservation of {number} expired and it is no longer free ({resp.error})"), "cloud")

    def _command_handlers(self) -> dict[CommandName, Any]:
        def on_loop(coro: Any, timeout: float = 15.0) -> Any:
            assert self._loop is not None
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

        def open_barrier(cmd: RemoteCommand) -> tuple[CommandStatus, str, dict[str, Any]]:
            barrier = cmd.args.get("barrier")
            if barrier not in ("entry", "exit"):
                return CommandStatus.REFUSED, "args.barrier must be entry or exit", {}
            try:
                on_loop(self.hw.open_barrier(barrier))
            except HardwareFault as f:
                return CommandStatus.FAILED, str(f), {}
            self.journal.record([NewEvent(EventKind.BARRIER_ACTUATED, actor=cmd.issued_by, ts=self.clock(),
                                          data={"barrier": barrier, "command": "open", "remote": True, "reason": cmd.reason})])
            on_loop(self.refresh_hardware())
            return CommandStatus.DONE, f"{barrier} barrier opened", {}

        def reload_config(cmd: RemoteCommand) -> tuple[CommandStatus, str, dict[str, Any]]:
            if self.config_path is None:
                return CommandStatus.REFUSED, "the lane was not started from a config file", {}
            new = load_config(self.config_path)
            if (new.site, new.unit, new.mqtt.host, new.mqtt.port, new.journal.path) != (self.cfg.site, self.cfg.unit, self.cfg.mqtt.host, self.cfg.mqtt.port, self.cfg.journal.path):
                return CommandStatus.REFUSED, "site, unit, broker and journal changes need a restart", {}
            self.cfg = new
            self.rules = rules_from(new)
            return CommandStatus.DONE, "config reloaded (inspectors, inspection rules, plates, telemetry)", {}

        def send_diagnostics(cmd: RemoteCommand) -> tuple[CommandStatus, str, dict[str, Any]]:
            snap = on_loop(self._snapshot_async())
            return CommandStatus.DONE, "diagnostics attached", {"overview": snap, "telemetry": self._telemetry(0).model_dump(mode="json")}

        return {CommandName.OPEN_BARRIER: open_barrier, CommandName.RELOAD_CONFIG: reload_config, CommandName.SEND_DIAGNOSTICS: send_diagnostics}

    # ------------------------------------------------------------ inspectors
    def check_pin(self, inspector_id: str, pin: str) -> str | None:
        """The inspector's display name when the PIN matches; every attempt is journaled. A failed one carries
        the attempted id as typed or sent by anyone: made printable and cut (see :func:`attempted_id`)."""
        for ins in self.cfg.inspectors:
            if ins.id == inspector_id:
                try:
                    ok = hmac.compare_digest(ins.pin.reveal().encode(), pin.encode())
                except Exception:  # noqa: BLE001
                    ok = False
                if ok:
                    self.record(EventKind.INSPECTOR_SIGNED_IN, {"inspector": inspector_id}, actor=inspector_id)
                    return ins.name
        attempt = attempted_id(inspector_id)
        self.record(EventKind.INSPECTOR_SIGN_IN_FAILED, attempt, actor=attempt["inspector"])
        return None

    # ------------------------------------------------------------ views
    def _telemetry(self, dropped: int) -> Telemetry:
        stations = {s: (self.open_case_for(s).stage.value if self.open_case_for(s) else None) for s in self.cfg.stations}
        depth = self.journal.outbox_depth()
        return sample(self.cfg.unit, outbox_depth=depth, outbox_alarm=depth > self.cfg.outbox.alarm_depth, dropped=dropped,
                      boards=self.hw.health(), camera_fps=self.camera.fps, disk_path=self.data_dir, stations=stations)

    async def _snapshot_async(self) -> dict[str, Any]:
        return self.overview()

    def case_summary(self, c: C.Case) -> dict[str, Any]:
        now = self.clock()
        return {"case_id": c.case_id, "station": c.station, "stage": c.stage.value, "age_s": round(c.age(now), 1),
                "over_promise": c.over_promise(now, self.cfg.promise_minutes * 60), "hold": c.hold,
                "waiting": self.waiting.get(c.case_id) or C.waiting_for(c), "plate": c.plate, "outcome": c.outcome,
                "owner": ((c.partner or {}).get("owner") or {}).get("name")}

    def overview(self) -> dict[str, Any]:
        depth = self.journal.outbox_depth()
        lat = sorted(self.outbox.ack_latencies[-2000:])
        steps = sorted(self.step_ms[-2000:])
        return {
            "unit": self.cfg.unit, "site": self.cfg.site, "version": self.version,
            "cloud_connected": self.session.connected.is_set(),
            "stations": {s: (self.case_summary(c) if (c := self.open_case_for(s)) else None) for s in self.cfg.stations},
            "hardware": self.last_hw_status, "devices": self.device_state,
            "boards": [b.model_dump() for b in self.hw.health()],
            "camera": {"source": self.cfg.camera.source, "fps": self.camera.fps, "reader": self.reader.status},
            "outbox": {"depth": depth, "alarm": depth > self.cfg.outbox.alarm_depth, "last_seq": self.journal.last_seq(),
                       "acked_seq": self.journal.acked_seq(), "ack_ms_p50": _pct(lat, 50, 1000), "ack_ms_p99": _pct(lat, 99, 1000),
                       "acks_measured": len(lat)},
            "step_ms": {"p50": _pct(steps, 50), "p99": _pct(steps, 99), "n": len(steps)},
            "alerts": sorted(self.alerts.values(), key=lambda a: a["ts"]),
            "recent": [self.case_summary(C.Case.model_validate(r.state)) for r in self.journal.recent_cases(10) if not r.open],
        }

    def case_view(self, case_id: str) -> dict[str, Any]:
        c = self.cases.get(case_id)
        row = None
        if c is None:
            row = self.journal.case(case_id)
            if row is None:
                raise KeyError(case_id)
            c = C.Case.model_validate(row.state)
        view = c.model_dump(mode="json")
        view.update(self.case_summary(c))
        view["certificate_vin"] = c.certificate_vin
        view["vin_needs_review"] = c.vin_needs_review
        view["checklist"] = list(self.rules.checklist(c.vehicle_type))
        view["required_photos"] = list(self.rules.required_photos)
        view["timeline"] = self.journal.case_events(case_id)
        view["new_energy"] = c.new_energy
        return view


ATTEMPTED_ID_SHOWN = 64


def printable(text: str) -> str:
    """``text`` with control, format and unassigned characters (and the backslash) escaped as Python writes them:
    an attempted id may be a terminal escape sequence or a bidi override meant for whoever reads the journal."""
    def one(ch: str) -> str:
        if ch == "\\":
            return "\\\\"
        if unicodedata.category(ch)[0] == "C":
            return ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        return ch

    return "".join(one(ch) for ch in text)


def attempted_id(text: str) -> dict[str, Any]:
    """The journal's record of an id someone tried to sign in with: printable, at most 64 characters; when cut,
    it ends with '…' and says so, with the length that was sent (a 600,000-character id once wedged the outbox)."""
    shown = printable(text)
    if len(shown) <= ATTEMPTED_ID_SHOWN:
        return {"inspector": shown}
    return {"inspector": shown[:ATTEMPTED_ID_SHOWN - 1] + "…", "inspector_truncated": True, "inspector_length": len(text)}


def _pct(sorted_values: list[float], q: float, scale: float = 1.0) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return round(sorted_values[i] * scale, 2)


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if ctypes.util.find_library("c") else None


def release_memory() -> None:
    """Give freed frame buffers back to the OS (glibc keeps them otherwise): keeps the lane's RSS flat."""
    if _libc is not None and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)


def limit_malloc_arenas(n: int = 2) -> None:
    """Fewer glibc arenas: threads that touch big frames do not each keep their own heap."""
    if _libc is not None and hasattr(_libc, "mallopt"):
        _libc.mallopt(-8, n)  # M_ARENA_MAX
