"""The running exam vehicle: receiver, vehicle board, judge, journal and cloud link on the shared edge runtime.

One asyncio loop owns the unit. Every judge input is stamped once, on arrival
(the receiver thread stamps epochs as they complete, the board driver its
signal changes), handed to the loop, put on the judging time base
(`exam_vehicle.time_base`: the receiver's GNSS time, or the unit's clock),
written to the exam's track and judged; each epoch is also offered to the
live position feed (`exam_vehicle.position`);
the judge's events are journaled (the same durable outbox and delivery
guarantee as a lane's events) before they are spoken or shown. On start, an
exam that was running when the unit stopped or died is reported interrupted,
and every ended exam's track is uploaded (or its upload resumed).

No exam starts while the clock is not synchronised (`edge.clock_sync`; on the
`gnss` time base a receiver giving dated fixes counts, since judging time is
then GNSS time) or the disk is nearly full (`edge.storage`); uploaded tracks
whose events the cloud acknowledged are deleted by age and disk budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.changes import ChangeFeed, OwnedTasks
from edge.contract import BoardHealth, EventKind, Telemetry, unused_case_id
from edge.journal import Journal, NewEvent
from edge.mqtt_session import MqttSession, SessionSettings
from edge.outbox import Outbox
from edge.remote_commands import CommandDispatcher
from edge.telemetry import TelemetryPublisher, sample
from exam_vehicle.car import load_car
from exam_vehicle.config import ExamVehicleConfig
from exam_vehicle.course import load_course
from exam_vehicle.exam_run import ExamRun, ExamView
from exam_vehicle.gnss import Epoch, FixQuality
from exam_vehicle.judge import Judge
from exam_vehicle.position import PositionFeed
from exam_vehicle.receiver import ReceiverLink
from exam_vehicle.rules import load_rules
from exam_vehicle.signals import SignalChange
from exam_vehicle.time_base import time_base
from exam_vehicle.track import Input, TrackHeader
from exam_vehicle.track_upload import compress_once, pieces
from exam_vehicle.unit_commands import ExamCommands
from exam_vehicle.upkeep import ExamUpkeep
from exam_vehicle.vehicle_board import VehicleBoardDriver
from exam_vehicle.voice import Announcer, Speak, espeak

log = logging.getLogger("passlane.exam")
SOFTWARE = "passlane-exam-vehicle/0.1"
ENDED = (EventKind.EXAM_RESULT, EventKind.EXAM_INTERRUPTED)


class ExamUnit:
    """One exam vehicle: at most one exam at a time, judged on the car."""

    def __init__(
        self,
        cfg: ExamVehicleConfig,
        *,
        session: MqttSession | None = None,
        clock: Callable[[], float] = time.time,
        speak: Speak | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.course, self.car, self.rules = (
            load_course(cfg.exam.course),
            load_car(cfg.exam.car),
            load_rules(cfg.exam.rules),
        )
        Judge(self.course, self.car, self.rules)  # the course, car and table fit together, or the unit does not start
        self.data_dir = cfg.journal.path.parent
        self.journal = Journal(cfg.journal.path, cfg.unit)
        self.session = (
            session
            if session is not None
            else MqttSession(SessionSettings.from_unit_config(cfg, "exam-vehicle", SOFTWARE))
        )
        self.outbox = Outbox(
            self.journal,
            self.session,
            resend_after_s=cfg.outbox.resend_after_s,
            window=cfg.outbox.batch,
            alarm_depth=cfg.outbox.alarm_depth,
        )
        if speak is None and cfg.audio.enabled:
            speak = espeak(cfg.audio.voice, cfg.audio.device)
        self.announcer = Announcer(speak)
        self.time_base = time_base(cfg.exam.time_base, clock)  # judging time; the threads stamp on its local clock
        self.receiver = ReceiverLink(
            cfg.gnss.url, cfg.gnss.baud, self.time_base.local, self._epoch_from_thread, self._receiver_state_from_thread
        )
        self.board = VehicleBoardDriver(
            cfg.vehicle_board.url, clock=self.time_base.local, pulses_per_rev=cfg.vehicle_board.pulses_per_rev
        )
        self.positions = PositionFeed(self.session, cfg.unit, self.course, cfg.exam.position_hz, time.monotonic)
        self.tasks = OwnedTasks()
        self.changes = ChangeFeed(self.tasks)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.run: ExamRun | None = None
        self.last: ExamView | None = None
        self.last_epoch: Epoch | None = None
        self.devices: dict[str, dict[str, Any]] = {"gnss": {"online": False, "detail": "not yet heard"}}
        self.telemetry: TelemetryPublisher | None = None
        self.commands: CommandDispatcher | None = None
        self.upkeep = ExamUpkeep(cfg, self.journal, self.time_base, lambda: self.last_epoch, self.changes.bump)
        self.clock_gate, self.disk = self.upkeep.clock_gate, self.upkeep.disk

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.changes.attach(self.loop)
        self._report_interrupted("the unit stopped or restarted during the exam")
        self.commands = CommandDispatcher(self.journal, self.session, ExamCommands(self).handlers(), self.clock)
        self.commands.attach()
        self.session.on_connected.append(self.changes.bump_threadsafe)
        self.session.on_disconnected.append(self.changes.bump_threadsafe)
        self.outbox.start()
        self.session.start()
        self.telemetry = TelemetryPublisher(self.session, self.telemetry_sample, self.cfg.telemetry.interval_s)
        self.telemetry.start()
        self.receiver.start()
        self.tasks.start(self._board_loop())
        self.tasks.start(self._upload_pending())
        self.tasks.start(self.upkeep.watch())

    async def stop(self) -> None:
        if self.run is not None:
            self._end_run(interrupted="the unit was stopped during the exam")
        await self.tasks.cancel_all()
        self.receiver.stop()
        await self.board.close()
        if self.telemetry:
            self.telemetry.stop()
        self.outbox.stop()
        await asyncio.to_thread(self.session.stop)
        self.announcer.close()
        self.journal.close()

    # ------------------------------------------------------------ exams
    def start_exam(self, candidate: str, exam_id: str | None = None) -> str:
        """Begin judging `candidate`; the signals as the board has them now are the judge's first inputs."""
        if self.run is not None:
            raise ExamRefused(f"exam {self.run.header.exam_id} is under way")
        if (reason := self.upkeep.refusal()) is not None:
            raise ExamRefused(reason)
        now = self.time_base.now()
        if not self.rtk_fixed(now):
            raise ExamRefused("no RTK fixed position from the receiver: an exam is judged only on an RTK fixed fix")
        day = time.strftime("%y%m%d", time.localtime(now))
        exam_id = exam_id or unused_case_id(self.cfg.unit, day, lambda e: bool(self.journal.case_events(e)))
        header = TrackHeader(
            exam_id=exam_id,
            candidate=candidate,
            car=self.car.name,
            course=self.course.name,
            rules_version=self.rules.version,
            started_at=now,
        )
        self.journal.record([exam_started(header, self.rules.licence)])
        self.run = ExamRun(
            header,
            Judge(self.course, self.car, self.rules),
            self._track_path(exam_id),
            self.journal.record,
            self.announcer.say,
        )
        for signal, value in self.board.values.items():
            self._input(SignalChange(t=now, signal=signal, value=value))
        self.changes.bump()
        return exam_id

    def rtk_fixed(self, now: float) -> bool:
        """Whether the receiver gives an RTK fixed position now (within the last second)."""
        e = self.last_epoch
        return e is not None and e.quality is FixQuality.RTK_FIXED and now - e.t <= 1.0

    def end_exam(self) -> None:
        """The examiner ends the test now: the judge gives its result."""
        if self.run is None:
            raise ExamRefused("no exam is under way")
        self.run.finish(self.time_base.now())
        self._after_input()

    def _track_path(self, exam_id: str) -> Path:
        return self.cfg.tracks_dir / f"{exam_id}.jsonl"

    def _arrived(self, inp: Input) -> None:
        """An input as a thread stamped it on arrival: on judging time, judged, and an epoch shown on the map."""
        if isinstance(inp, Epoch):
            inp = self.time_base.epoch(inp)
            self._input(inp)
            self.positions.offer(inp, self.run.view if self.run is not None else None)
        else:
            self._input(self.time_base.signal(inp))

    def _input(self, inp: Input) -> None:
        if isinstance(inp, Epoch):
            self.last_epoch = inp
        if self.run is not None:
            self.run.feed(inp)
            self._after_input()
        self.changes.bump()

    def _after_input(self) -> None:
        if self.run is not None and self.run.over:
            self._end_run()

    def _end_run(self, interrupted: str | None = None) -> None:
        run, self.run = self.run, None
        assert run is not None
        if interrupted is not None:
            self.journal.record(
                [
                    NewEvent(
                        EventKind.EXAM_INTERRUPTED,
                        case_id=run.header.exam_id,
                        actor="system",
                        ts=self.clock(),
                        data={"reason": interrupted},
                    )
                ]
            )
            run.close()
        self.last = run.view
        if self.loop is not None and not interrupted:
            self.tasks.start(self._upload(run.header.exam_id))

    # ------------------------------------------------------------ inputs from the receiver and the board
    def _epoch_from_thread(self, epoch: Epoch) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._arrived, epoch)

    def _receiver_state_from_thread(self, online: bool, detail: str) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._device_state, "gnss", online, detail)

    def _device_state(self, device: str, online: bool, detail: str) -> None:
        self.devices[device] = {"online": online, "detail": detail}
        kind = EventKind.DEVICE_RECOVERED if online else EventKind.DEVICE_FAULT
        self.journal.record(
            [NewEvent(kind, actor="system", ts=self.clock(), data={"device": device, "detail": detail[:300]})]
        )
        self.changes.bump()

    async def _board_loop(self) -> None:
        """The vehicle board's signal changes, for as long as the unit runs (the driver reconnects by itself)."""
        try:
            await self.board.start()
        except Exception as exc:  # noqa: BLE001 - judging needs the board; the page and the bridge say it is missing
            self._device_state("vehicle-board", False, f"could not start: {exc}")
        async for change in self.board.changes():
            self._arrived(change)

    # ------------------------------------------------------------ recovery and uploads
    def _open_exams(self) -> list[str]:
        """Exams started in the journal and never ended there (the unit died or stopped during them)."""
        open_: dict[str, None] = {}
        for ev in self.journal.events_of_kinds([EventKind.EXAM_STARTED, *ENDED]):
            if ev["kind"] == EventKind.EXAM_STARTED.value:
                open_[ev["case_id"]] = None
            else:
                open_.pop(ev["case_id"], None)
        return list(open_)

    def _report_interrupted(self, reason: str) -> None:
        for exam_id in self._open_exams():
            self.journal.record(
                [
                    NewEvent(
                        EventKind.EXAM_INTERRUPTED,
                        case_id=exam_id,
                        actor="system",
                        ts=self.clock(),
                        data={"reason": reason},
                    )
                ]
            )

    async def _upload_pending(self) -> None:
        """Every ended exam whose track is not fully uploaded yet (a restart, an interrupted exam)."""
        for path in sorted(self.cfg.tracks_dir.glob("*.jsonl")) if self.cfg.tracks_dir.exists() else []:
            await self._upload(path.stem)

    async def _upload(self, exam_id: str) -> None:
        """The exam's track as exam.track_chunk events, from the first piece not journaled yet."""
        track = self._track_path(exam_id)
        if not track.exists():
            return
        compressed = await asyncio.to_thread(compress_once, track)
        done = sum(1 for ev in self.journal.case_events(exam_id) if ev["kind"] == EventKind.EXAM_TRACK_CHUNK.value)
        for piece in pieces(exam_id, compressed, start=done):
            self.journal.record(
                [
                    NewEvent(
                        EventKind.EXAM_TRACK_CHUNK,
                        case_id=exam_id,
                        actor="system",
                        ts=self.clock(),
                        data=piece.model_dump(),
                    )
                ]
            )
            await asyncio.sleep(0)  # other work goes on between pieces
        track.rename(track.with_suffix(".jsonl.uploaded"))

    # ------------------------------------------------------------ views
    def telemetry_sample(self, dropped: int) -> Telemetry:
        boards = [
            BoardHealth(name="gnss", online=self.receiver.online),
            BoardHealth(name="vehicle-board", online=self.board.online),
        ]
        depth = self.journal.outbox_depth()
        stage = self.run.view.item if self.run is not None else None
        return sample(
            self.cfg.unit,
            outbox_depth=depth,
            outbox_alarm=depth > self.cfg.outbox.alarm_depth,
            dropped=dropped,
            boards=boards,
            camera_fps=None,
            disk_path=self.data_dir,
            stations={"exam": stage},
            clock_synced=self.clock_gate.state().synced,
            disk_full=self.disk.full,
        )

    def status(self) -> dict[str, Any]:
        """What the examiner's page shows: the exam (or the last), the fix, the signals, the devices, the cloud link."""
        view = self.run.view if self.run is not None else self.last
        e = self.last_epoch
        clock = self.clock_gate.known()
        return {
            "unit": self.cfg.unit,
            "version": self.changes.version,
            "cloud_connected": self.session.connected.is_set(),
            "exam": None if view is None else {**view.__dict__, "running": self.run is not None},
            "fix": None
            if e is None
            else {
                "quality": e.quality.value,
                "sats": e.sats,
                "hdop": e.hdop,
                "h_acc_m": e.h_acc_m,
                "speed_mps": e.speed_mps,
                "heading_deg": e.heading_deg,
                "age_s": round(self.time_base.now() - e.t, 1),
            },
            "signals": {s.value: v for s, v in self.board.values.items()},
            "clock": {"synced": clock.synced, "source": clock.source, "detail": clock.detail},
            "disk": {"full": self.disk.full, "detail": self.disk.describe()},
            "devices": {**self.devices, "vehicle-board": {"online": self.board.online, "detail": ""}},
            "outbox": {
                "depth": self.journal.outbox_depth(),
                "last_seq": self.journal.last_seq(),
                "acked_seq": self.journal.acked_seq(),
            },
            "voice": {
                "spoken": self.announcer.spoken,
                "failed": self.announcer.failed,
                "dropped": self.announcer.dropped,
            },
        }


def exam_started(header: TrackHeader, licence: str) -> NewEvent:
    """The journaled start of an exam: who, on which car, course and rules version."""
    return NewEvent(
        EventKind.EXAM_STARTED,
        case_id=header.exam_id,
        actor="examiner",
        ts=header.started_at,
        data={
            "exam_id": header.exam_id,
            "candidate": header.candidate,
            "car": header.car,
            "course": header.course,
            "rules_version": header.rules_version,
            "licence": licence,
        },
    )


class ExamRefused(RuntimeError):
    """An exam action that cannot be done now (one is under way, none is)."""
