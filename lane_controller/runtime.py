"""The running lane: the pure case machine wired to the journal, the cloud, the boards and the camera.

One asyncio loop owns the lane. Every input goes through :meth:`Lane.apply`:
the pure :func:`~lane_controller.case.step` decides, the journal records the
new case state and its events in one transaction, then the actions run as
tasks whose results come back as inputs. A crash at any point leaves the
journal consistent; on start every open case is re-read and its
:func:`~lane_controller.case.pending` actions are run again (all idempotent).

The lane's collaborators each own one concern: `CloudLink` (requests to the
bridge and its notifications), `VisionWorker` (camera, VIN reader, photo
files), `LaneCommands` (remote commands), `views` (what the tablet shows),
`inspectors` (PIN checks), `ChangeFeed`/`OwnedTasks` (live updates, tasks).

No new case opens while the clock is not synchronised (`edge.clock_sync`) or
the disk is nearly full (`edge.storage`); both show as the lane's alerts
(``clock:unsynced``, ``disk:full``) and in its telemetry, and clear by
themselves. Cases already open go on; a step that does not fit on the disk is
refused whole, so nothing journaled is lost. Delivered photos are deleted by
age and disk budget.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.changes import ChangeFeed, OwnedTasks
from edge.clock_sync import ClockGate
from edge.config import LaneConfig
from edge.contract import EventKind, Telemetry, unused_case_id
from edge.journal import CaseRow, Journal, NewEvent
from edge.mqtt_session import MqttSession, SessionSettings
from edge.outbox import Outbox
from edge.remote_commands import CommandDispatcher
from edge.stats import recent_samples
from edge.storage import DiskGuard, SweepResult, is_disk_full, photo_files, remove_empty_folders, sweep
from edge.telemetry import TelemetryPublisher, sample
from edge.upkeep import watch_upkeep
from lane_controller import case as C
from lane_controller import views
from lane_controller.cloud_link import CloudLink
from lane_controller.device_events import DeviceEvents
from lane_controller.hardware import BoardHardware, Hardware, HardwareFault, HardwareListener
from lane_controller.inspectors import attempted_id, pin_matches
from lane_controller.remote_control import LaneCommands
from lane_controller.vin_camera import VinCamera, VinReading
from lane_controller.vin_capture import VisionWorker
from vision.rules import is_well_formed

log = logging.getLogger("passlane.lane")


def rules_from(cfg: LaneConfig) -> C.Rules:
    return C.Rules(
        items={k: tuple(v) for k, v in cfg.inspection.items.items()},
        required_photos=tuple(cfg.inspection.required_photos),
        plates=cfg.plates,
        authority=cfg.plates.authority,
        min_inspection_s=cfg.inspection.min_inspection_s,
    )


def hardware_from(cfg: LaneConfig) -> Hardware:
    """The lane-bus boards named in lane.toml (both URLs are required)."""
    return BoardHardware(cfg.io_board.url, cfg.plate_issuer.url)


class Lane:
    """One lane unit: its open cases, and the journal, boards, camera and cloud link that serve them."""

    def __init__(
        self,
        cfg: LaneConfig,
        *,
        hardware: Hardware | None = None,
        session: MqttSession | None = None,
        reader: VinReading | None = None,
        clock: Callable[[], float] = time.time,
        config_path: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.clock = clock
        self.rules = rules_from(cfg)
        self.data_dir = cfg.journal.path.parent
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(cfg.journal.path, cfg.unit)
        self.upkeep = LaneUpkeep(self)
        self.hw: Hardware = hardware if hardware is not None else hardware_from(cfg)
        # the lane always has its cloud link: there is no mode that runs cases without the bridge
        self.session: MqttSession = (
            session if session is not None else MqttSession(SessionSettings.from_unit_config(cfg))
        )
        self.outbox = Outbox(
            self.journal,
            self.session,
            resend_after_s=cfg.outbox.resend_after_s,
            window=cfg.outbox.batch,
            alarm_depth=cfg.outbox.alarm_depth,
        )
        self.camera = VinCamera(cfg.camera.source)
        # the reader is loaded here, at start-up: a broken model installation stops the lane with the cause
        # (ReaderUnavailable) instead of quietly sending every VIN to the inspector
        self.reader = reader if reader is not None else VinReading(load=True)
        self.vision = VisionWorker(self.camera, self.reader, self.data_dir, clock)
        self.cloud = CloudLink(self)
        self.devices = DeviceEvents(self)
        self.tasks = OwnedTasks()
        self.changes = ChangeFeed(self.tasks)
        self.cases: dict[str, C.Case] = {}
        self.waiting: dict[str, str] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.device_state: dict[str, dict[str, Any]] = {}
        self.started_at = clock()
        self.step_ms = recent_samples()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self.telemetry: TelemetryPublisher | None = None
        self.commands: CommandDispatcher | None = None
        self.last_hw_status: dict[str, Any] = {}
        self._promise_warned: set[str] = set()

    @property
    def version(self) -> int:
        return self.changes.version

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.changes.attach(self.loop)
        for row in self.journal.open_cases():
            try:
                self.cases[row.case_id] = C.Case.model_validate(row.state)
            except ValueError as exc:
                self.alert(f"case:{row.case_id}", f"case {row.case_id} could not be restored: {exc}")
        try:
            await self.hw.start(
                HardwareListener(self.devices.vehicle_passed, self.devices.device_fault, self.devices.issue_progress)
            )
        except Exception as exc:  # noqa: BLE001 - start without boards; the alert says why
            await self.devices.device_fault("io-board", f"could not start: {exc}", False)
        await self.refresh_hardware()
        self.session.on_notification.append(self.cloud.notification_threadsafe)
        self.commands = CommandDispatcher(self.journal, self.session, LaneCommands(self).handlers(), self.clock)
        self.commands.attach()
        self.session.on_connected.append(self.changes.bump_threadsafe)
        self.session.on_connected.append(self.cloud.recheck_payments_threadsafe)
        self.session.on_disconnected.append(self.changes.bump_threadsafe)
        self.outbox.start()
        self.session.start()
        self.telemetry = TelemetryPublisher(self.session, self.telemetry_sample, self.cfg.telemetry.interval_s)
        self.telemetry.start()
        self.tasks.start(self._watch_promise())
        self.tasks.start(self.upkeep.watch())
        for case in list(self.cases.values()):
            log.info("resuming case %s at stage %s", case.case_id, case.stage)
            self.run_actions(case.case_id, C.pending(case))

    async def stop(self) -> None:
        await self.tasks.cancel_all()
        if self.telemetry:
            self.telemetry.stop()
        self.outbox.stop()
        await asyncio.to_thread(self.session.stop)
        try:
            await self.hw.close()
        except Exception:
            log.exception("closing hardware")
        self.vision.close()
        self.journal.close()

    def reconfigure(self, cfg: LaneConfig) -> None:
        """A reloaded lane.toml (same site, unit, broker and journal): inspectors, rules, plates, telemetry."""
        self.cfg = cfg
        self.rules = rules_from(cfg)

    async def wait_change(self, version: int, timeout: float) -> int:
        return await self.changes.wait(version, timeout)

    # ------------------------------------------------------------ inputs
    def open_case_for(self, station: str) -> C.Case | None:
        for c in self.cases.values():
            if c.station == station and c.is_open:
                return c
        return None

    async def open_case(self, station: str, id_number: str | None, booking_number: str | None, actor: str) -> C.Case:
        if station not in self.cfg.stations:
            raise C.Refused(f"unknown station {station}")
        await self.upkeep.may_start_a_case()
        async with self._lock:
            t0 = time.perf_counter()
            open_by_station = {c.station: c.case_id for c in self.cases.values() if c.is_open}
            day = time.strftime("%y%m%d", time.localtime(self.clock()))
            case_id = unused_case_id(self.cfg.unit, day, lambda c: c in self.cases or self.journal.case(c) is not None)
            st = C.open_case(
                open_by_station, C.Open(case_id, station, id_number or None, booking_number or None), self.clock()
            )
            self._commit(st, actor)
            self.step_ms.append((time.perf_counter() - t0) * 1000)
        self.run_actions(case_id, st.actions)
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
        actions = list(st.actions)
        if isinstance(inp, C.Resume):
            actions += C.pending(st.case)
        self.run_actions(case_id, actions)
        return st.case

    def _commit(self, st: C.Step, actor: str) -> None:
        c = st.case
        now = self.clock()
        events = [
            NewEvent(e.kind, case_id=c.case_id, station=c.station, actor=actor, data=e.data, ts=now) for e in st.events
        ]
        row = CaseRow(c.case_id, c.station, c.stage.value, c.is_open, c.model_dump(mode="json"))
        try:
            self.journal.record(events, row, now=now)
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            self.upkeep.disk_full()  # the transaction was rolled back whole: the case stays as it was
            raise C.Refused(f"not saved: {self.upkeep.disk.describe()}") from None
        if c.is_open:
            self.cases[c.case_id] = c
        else:
            self.cases.pop(c.case_id, None)
            self.waiting.pop(c.case_id, None)
        self.changes.bump()

    def record(self, kind: EventKind, data: dict[str, Any], actor: str = "system", case_id: str | None = None) -> None:
        self.journal.record(
            [NewEvent(kind, case_id=case_id, actor=actor, data=data, ts=self.clock())], now=self.clock()
        )
        self.changes.bump()

    async def safe_apply(self, case_id: str, inp: C.Input, actor: str = "system") -> None:
        """An input from the lane's own machinery: a refusal is logged (the case moved on), never raised."""
        try:
            await self.apply(case_id, inp, actor)
        except C.Refused as exc:
            log.info("case %s: %s refused: %s", case_id, type(inp).__name__, exc.reason)

    # ------------------------------------------------------------ actions
    def run_actions(self, case_id: str, actions: list[C.Action]) -> None:
        """The actions of one step run in order (open the barrier, then the green light), as one task; the VIN
        check runs beside them (the camera need not wait while the entry arm closes behind the car)."""
        ordered: list[C.Action] = [a for a in actions if not isinstance(a, C.CaptureVin)]
        if ordered:
            self.tasks.start(self._execute_all(case_id, ordered))
        for capture in (a for a in actions if isinstance(a, C.CaptureVin)):
            self.tasks.start(self._execute(case_id, capture))

    async def _execute_all(self, case_id: str, actions: list[C.Action]) -> None:
        for a in actions:
            if not await self._execute(case_id, a) and isinstance(a, C.OpenBarrier):
                return  # the barrier did not open: the green light that follows must not come on

    async def _execute(self, case_id: str, a: C.Action) -> bool:
        try:
            await self._execute_one(case_id, a)
            return True
        except HardwareFault as f:
            self.alert(f"device:{f.device}", f"{f.device}: {f.detail}")
            self.record(
                EventKind.DEVICE_FAULT,
                {"device": f.device, "detail": f.detail, "action": type(a).__name__},
                case_id=case_id,
            )
            case = self.cases.get(case_id)
            if case is not None and not case.hold and isinstance(a, C.OpenBarrier):
                await self.safe_apply(case_id, C.Hold(f"{f.device}: {f.detail}"))
            return False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("action %s for %s failed", a, case_id)
            self.alert(f"action:{case_id}", f"{type(a).__name__} failed: {exc}")
            return False

    async def _execute_one(self, case_id: str, a: C.Action) -> None:
        match a:
            case C.LookupPartner(id_number, booking_number):
                await self.cloud.lookup_partner(case_id, id_number, booking_number)
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
                await self.cloud.fetch_plate_options(case_id, new_energy)
            case C.ReservePlate(number, composed):
                await self.cloud.reserve_plate(case_id, number, composed)
            case C.ReleasePlate(number):
                await self.cloud.release_plate(case_id, number)
            case C.StartPayment(_plate):
                await self.cloud.start_payment(case_id)
            case C.CheckPayment():
                await self.cloud.check_payment(case_id)
            case C.IssuePlates(job_id, plate_kind, text):
                await self._issue(case_id, job_id, plate_kind, text)

    async def _issue(self, case_id: str, job_id: str, plate_kind: Any, text: str) -> None:
        self.waiting[case_id] = "plate issuer working"
        self.changes.bump()
        try:
            await self.hw.issue(job_id, plate_kind, text)
        except HardwareFault as f:
            self.waiting.pop(case_id, None)
            self.alert(f"device:{f.device}", f"{f.device}: {f.detail}")
            self.record(
                EventKind.DEVICE_FAULT, {"device": f.device, "detail": f.detail, "job_id": job_id}, case_id=case_id
            )
            await self.safe_apply(case_id, C.IssueFailed(job_id, f.detail))
            return
        self.waiting.pop(case_id, None)
        await self.safe_apply(case_id, C.PlatesIssued(job_id))

    # ------------------------------------------------------------ camera
    async def capture_vin(self, case_id: str) -> None:
        if case_id not in self.cases:
            return
        self.waiting[case_id] = "reading VIN"
        self.changes.bump()
        try:
            cert = self.cases[case_id].certificate_vin
            read = await self.vision.read_vin(case_id, cert if cert and is_well_formed(cert) else None)
        except Exception as exc:  # noqa: BLE001 - a camera fault: the inspector reviews by eye
            self.alert("device:camera", f"VIN camera: {exc}")
            self.record(EventKind.DEVICE_FAULT, {"device": "camera", "detail": str(exc)[:500]}, case_id=case_id)
            read = C.VinRead(decision="none", check_digit="invalid")
        finally:
            self.waiting.pop(case_id, None)
        await self.safe_apply(case_id, read)

    async def save_photo(self, case_id: str, code: str, data: bytes | None, actor: str) -> C.Case:
        """A checklist photo: uploaded from the tablet, or taken by the station camera when ``data`` is None."""
        if case_id not in self.cases:
            raise C.Refused(f"no open case {case_id}")
        try:
            ref = await self.vision.store_photo(case_id, code, data)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self.upkeep.disk_full()
            raise C.Refused(f"photo not saved: {self.upkeep.disk.describe()}") from None
        return await self.apply(case_id, C.Photo(code, ref), actor)

    # ------------------------------------------------------------ device events
    def check_promises(self) -> None:
        """Raise an alert (once per case) for every open case past the entry-to-exit promise."""
        now = self.clock()
        for c in list(self.cases.values()):
            key = f"promise:{c.case_id}"
            if key not in self._promise_warned and c.over_promise(now, self.cfg.promise_lane_s):
                self._promise_warned.add(key)
                self.alert(
                    key,
                    f"case {c.case_id} at station {c.station} is over the "
                    f"{self.cfg.promise_minutes:.0f}-minute promise ({C.waiting_for(c) or c.stage.value})",
                )

    async def _watch_promise(self, period_s: float = 5.0) -> None:
        while True:
            self.check_promises()
            await asyncio.sleep(period_s)  # a periodic check, not synchronisation

    async def refresh_hardware(self) -> None:
        try:
            self.last_hw_status = await self.hw.status()
        except Exception as exc:  # noqa: BLE001
            self.last_hw_status = {"error": str(exc)}
        self.changes.bump()

    def alert(self, key: str, text: str) -> None:
        self.alerts[key] = {"key": key, "text": text, "ts": self.clock()}
        self.changes.bump()

    def clear_alert(self, key: str) -> None:
        self.alerts.pop(key, None)
        self.changes.bump()

    # ------------------------------------------------------------ inspectors
    def check_pin(self, inspector_id: str, pin: str) -> str | None:
        """The inspector's display name when the PIN matches; every attempt is journaled. A failed one carries
        the attempted id as typed or sent by anyone: made printable and cut (see :func:`attempted_id`)."""
        name = pin_matches(self.cfg, inspector_id, pin)
        if name is not None:
            self.record(EventKind.INSPECTOR_SIGNED_IN, {"inspector": inspector_id}, actor=inspector_id)
            return name
        attempt = attempted_id(inspector_id)
        self.record(EventKind.INSPECTOR_SIGN_IN_FAILED, attempt, actor=attempt["inspector"])
        return None

    # ------------------------------------------------------------ views
    def telemetry_sample(self, dropped: int) -> Telemetry:
        stations = {s: (c.stage.value if (c := self.open_case_for(s)) else None) for s in self.cfg.stations}
        depth = self.journal.outbox_depth()
        return sample(
            self.cfg.unit,
            outbox_depth=depth,
            outbox_alarm=depth > self.cfg.outbox.alarm_depth,
            dropped=dropped,
            boards=self.hw.health(),
            camera_fps=self.camera.fps,
            disk_path=self.data_dir,
            stations=stations,
            clock_synced=self.upkeep.clock_gate.state().synced,
            disk_full=self.upkeep.disk.full,
        )

    def case_summary(self, c: C.Case) -> dict[str, Any]:
        return views.case_summary(self, c)

    def overview(self) -> dict[str, Any]:
        return views.overview(self)

    def case_view(self, case_id: str) -> dict[str, Any]:
        return views.case_view(self, case_id)


class LaneUpkeep:
    """The lane's clock and disk: whether a new case may open (the alerts ``clock:unsynced`` and ``disk:full`` say
    why not, and clear by themselves), and photo retention."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.clock_gate = ClockGate(lane.cfg.clock)
        self.disk = DiskGuard(lane.data_dir, lane.cfg.storage)

    async def may_start_a_case(self) -> None:
        """Refuse a new case on an unsynchronised clock or a full disk, with the reason the tablet shows."""
        for key, reason in (
            ("clock:unsynced", await asyncio.to_thread(self.clock_gate.refusal, "case")),
            ("disk:full", await asyncio.to_thread(self.disk.refusal, "case")),
        ):
            if reason is not None:
                self.lane.alert(key, reason)
                raise C.Refused(reason)
            if key in self.lane.alerts:
                self.lane.clear_alert(key)

    def disk_full(self) -> None:
        """A write failed for want of space."""
        self.disk.mark_full()
        self.lane.alert("disk:full", self.disk.describe())

    def sweep_photos(self) -> SweepResult:
        """Delete delivered photos by age and disk budget (on a worker thread)."""
        photos = self.lane.data_dir / "photos"
        journal = self.lane.journal
        result = sweep(
            photo_files(photos), lambda case_id: journal.delivered(case_id, closed=True), self.lane.cfg.storage
        )
        remove_empty_folders(photos)
        return result

    def show_state(self) -> None:
        """The clock's and the disk's alerts as they are now (set or cleared)."""
        clock = self.clock_gate.known()
        for key, problem in (
            ("clock:unsynced", None if clock.synced else f"clock not synchronised: no case starts ({clock.detail})"),
            ("disk:full", self.disk.describe() if self.disk.full else None),
        ):
            if problem is not None:
                if self.lane.alerts.get(key, {}).get("text") != problem:
                    self.lane.alert(key, problem)
            elif key in self.lane.alerts:
                self.lane.clear_alert(key)

    async def watch(self) -> None:
        """The clock and the disk, shown as alerts, and photo retention, periodically (`edge.upkeep`)."""
        cfg = self.lane.cfg
        await watch_upkeep(cfg.storage, cfg.clock, self.disk, self.clock_gate, self.sweep_photos, self.show_state)
