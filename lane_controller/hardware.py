"""The lane's hardware as the controller sees it: two barriers with lights and loops, and a plate issuer.

:class:`BoardHardware` drives the lane-bus boards through the host driver
``edge.lanebus``: the real boards on /dev/ttyACM*, or the real firmware on
the simulated world (``passlane sim``, ``SimBoardServer``) over socket://
links. There is no in-process stand-in: a vehicle has passed only when the
board's loop and photo-eye say so.

Faults never escape as crashes: a failed command raises :class:`HardwareFault`,
which the lane turns into a case hold and an alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from edge.contract import BoardHealth, PlateKind

log = logging.getLogger("passlane.hardware")
JOB_ENDS = ("done", "paused", "interrupted")  # a plate job in one of these states is waited for no longer
JOB_POLL_S = 0.5  # the job is re-read this often even without a report from the issuer (one may be lost on the line)

PassedCallback = Callable[[str], Awaitable[None]]
FaultCallback = Callable[[str, str, bool], Awaitable[None]]  # device, detail, recovered?
ProgressCallback = Callable[[str, str, int], None]  # job id, state, plates done


@dataclasses.dataclass(frozen=True)
class HardwareListener:
    """What the lane is told, handed to :meth:`Hardware.start`: a vehicle passed an arm, a device failed or
    recovered, a plate job progressed."""

    vehicle_passed: PassedCallback
    device_fault: FaultCallback
    issue_progress: ProgressCallback


class Hardware(Protocol):
    """The lane's hardware as the lane uses it (the boards behind the lane bus: :class:`BoardHardware`)."""

    async def start(self, listener: HardwareListener) -> None: ...

    async def close(self) -> None: ...

    async def open_barrier(self, barrier: str) -> None: ...

    async def close_barrier(self, barrier: str) -> None: ...

    async def set_light(self, barrier: str, colour: str) -> None: ...

    async def issue(self, job_id: str, plate_kind: PlateKind, text: str) -> None: ...

    async def status(self) -> dict[str, Any]: ...

    def health(self) -> list[BoardHealth]: ...


class PassageDetector:
    """Pure: loop and photo-eye states under each arm in, passages out.  A vehicle has passed when the beam
    was broken while the loop held it, and loop and beam are clear again (a pedestrian alone never counts).

    Board events and the slower status poll both feed it.  A status reply is the board's state when it
    answered; events sent after it may be applied before the poll resumes, and the older snapshot would
    turn them back (a vehicle's loop: its passage lost; a crossing already counted: counted twice).  So
    the poll takes :meth:`mark` before it reads, and :meth:`snapshot` applies the reply only to barriers
    with no presence event since."""

    def __init__(self) -> None:
        self._inputs: dict[str, dict[str, bool]] = {}
        self._crossing: dict[str, bool] = {}
        self._events: dict[str, int] = {}

    def presence(self, barrier: str, input_: str, present: bool) -> bool:
        """A board event (loop or beam changed); True when it completed a passage."""
        self._events[barrier] = self._events.get(barrier, 0) + 1
        return self._apply(barrier, **{input_: present})

    def mark(self) -> dict[str, int]:
        return dict(self._events)

    def snapshot(self, mark: dict[str, int], barriers: dict[str, tuple[bool, bool]]) -> list[str]:
        """A status read sent at `mark`: (loop, beam) per barrier; the barriers where it completed a passage."""
        return [
            name
            for name, (loop, beam) in barriers.items()
            if self._events.get(name, 0) == mark.get(name, 0) and self._apply(name, loop=loop, beam=beam)
        ]

    def _apply(self, barrier: str, loop: bool | None = None, beam: bool | None = None) -> bool:
        st = self._inputs.setdefault(barrier, {"loop": False, "beam": False})
        if loop is not None:
            st["loop"] = loop
        if beam is not None:
            st["beam"] = beam
        if st["beam"] and st["loop"]:
            self._crossing[barrier] = True
        elif self._crossing.get(barrier) and not st["loop"] and not st["beam"]:
            self._crossing[barrier] = False
            return True
        return False


class HardwareFault(RuntimeError):
    def __init__(self, device: str, detail: str) -> None:
        super().__init__(f"{device}: {detail}")
        self.device = device
        self.detail = detail


class BoardHardware:
    """The lane-bus boards through the host drivers (``edge.lanebus``): the real boards, or the real firmware on
    the simulated world.  Owns its tasks (status poll, notices to the lane) and awaits them on close."""

    def __init__(
        self,
        io_url: str,
        issuer_url: str,
        *,
        poll_s: float = 1.0,
        issue_timeout_s: float = 120.0,
        command_timeout_s: float = 15.0,
    ) -> None:
        """command_timeout_s: how long one command may wait for a board that is off the link (then it is a fault)."""
        from edge import lanebus

        self._lanebus = lanebus
        self.io = lanebus.IoBoardDriver(io_url, command_timeout_s=command_timeout_s)
        self.issuer = lanebus.PlateIssuerDriver(issuer_url, command_timeout_s=command_timeout_s)
        self.poll_s = poll_s
        self.issue_timeout_s = issue_timeout_s
        self.passages = PassageDetector()
        self._listener: HardwareListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # what the lane must be told, in order, by one owned task (board events arrive in sync callbacks)
        self._notices: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self._online = True
        self._job_news: dict[str, asyncio.Event] = {}  # plate jobs being waited for: set when the issuer reports on one
        self.io.on_event(self._on_io_event)
        self.issuer.on_event(self._on_issuer_event)

    @property
    def running(self) -> bool:
        """Whether any of its tasks still runs (none does once close() returned)."""
        return any(not t.done() for t in self._tasks)

    async def start(self, listener: HardwareListener) -> None:
        """Handshake first, then poll: a poll before the first HELLO would report a link that was never up as down."""
        self._listener = listener
        self._tasks.append(asyncio.create_task(self._tell_the_lane(), name="hardware-notices"))
        try:
            await self.io.start()
        except Exception:
            self._online = (
                False  # the lane reports why the board could not start; the poll then reports only a recovery
            )
            raise
        finally:
            self._tasks.append(asyncio.create_task(self._poll(), name="hardware-poll"))
        try:
            await self.issuer.start()
        except Exception as exc:  # noqa: BLE001 - the lane runs; issuing waits for the issuer (alert raised)
            await self._fault("plate-issuer", f"could not start: {exc}", False)

    async def close(self) -> None:
        """Stop the poll and the notices, and wait until they have stopped, before the links: a poll still
        running would report the closed link as 'link down'."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.io.close()
        await self.issuer.close()

    async def _fault(self, device: str, detail: str, recovered: bool = False) -> None:
        if self._listener is not None:
            await self._listener.device_fault(device, detail, recovered)

    async def _tell_the_lane(self) -> None:
        while True:
            kind, args = await self._notices.get()
            try:
                if kind == "passed" and self._listener is not None:
                    await self._listener.vehicle_passed(*args)
                elif kind == "fault":
                    await self._fault(*args)
            except Exception:
                log.exception("telling the lane %s %s", kind, args)

    async def _cmd(self, device: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except (self._lanebus.LaneBusHostError, TimeoutError, OSError, ValueError) as exc:
            raise HardwareFault(device, str(exc) or type(exc).__name__) from None

    async def open_barrier(self, barrier: str) -> None:
        await self._cmd("io-board", self.io.open_barrier(barrier))

    async def close_barrier(self, barrier: str) -> None:
        """Close only when loop and photo-eye under the arm are clear (the board refuses otherwise, too)."""
        deadline = time.monotonic() + 30.0
        while True:
            st = await self._cmd("io-board", self.io.status())
            b = st.barriers[barrier]
            if not (b.loop_occupied or b.beam_blocked):
                try:
                    await self._cmd("io-board", self.io.close_barrier(barrier))
                    return
                except HardwareFault:
                    if time.monotonic() > deadline:
                        raise
            elif time.monotonic() > deadline:
                raise HardwareFault("io-board", f"{barrier}: presence under the arm for 30 s, not closing")
            await asyncio.sleep(0.2)  # poll interval while presence persists

    async def set_light(self, barrier: str, colour: str) -> None:
        await self._cmd("io-board", self.io.set_light(barrier, colour))

    async def issue(self, job_id: str, plate_kind: PlateKind, text: str) -> None:
        """Issue one pair of plates; the issuer's magazines hold blanks by colour, which the kind decides."""
        js = await self._cmd("plate-issuer", self.issuer.issue(job_id, plate_kind.colour, text))
        if js.state == "paused":
            # the job stopped on a fault (jam, spoiled blank, empty magazine); issuing it again is the operator's word
            # that the fault is dealt with: the issuer carries on and makes only the plates still missing. If the
            # fault is still there, the issuer refuses or pauses again, and the case is held again.
            await self._cmd("plate-issuer", self.issuer.clear_fault())
            js = await self._cmd("plate-issuer", self.issuer.job_status(job_id))
        if js.state != "done":
            js = await self._until_job_ends(job_id, js)
        if js.state != "done":
            raise HardwareFault("plate-issuer", f"job {js.state}: {js.fault}")

    async def _until_job_ends(self, job_id: str, js: Any) -> Any:
        """Re-read the job when the issuer reports on it (each plate made, done, a fault), and every
        ``JOB_POLL_S`` besides in case a report was lost: a fixed poll alone made a finished job wait up to
        a poll period (100 ms, about half of it on average) before the car's plates counted as issued."""
        news = self._job_news.setdefault(job_id, asyncio.Event())
        deadline = time.monotonic() + self.issue_timeout_s
        try:
            while js.state not in JOB_ENDS:
                if time.monotonic() > deadline:
                    raise HardwareFault("plate-issuer", f"job {job_id} is {js.state} after {self.issue_timeout_s:g} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), JOB_POLL_S)
                news.clear()  # before the read: a report arriving during it wakes the next wait
                js = await self._cmd("plate-issuer", self.issuer.job_status(job_id))
            return js
        finally:
            self._job_news.pop(job_id, None)

    async def status(self) -> dict[str, Any]:
        st = (await self._cmd("io-board", self.io.status())).model_dump()
        return {"barriers": st["barriers"], "estop": st["estop"], "issuer": {"online": bool(self.issuer.online)}}

    def _on_issuer_event(self, ev: Any) -> None:
        """Job progress goes to the tablet; the issuer's own fault reports (jam, empty magazine, cover open) become alerts at once."""
        news = self._job_news.get(str(ev.data.get("job_id")))
        if news is not None:
            news.set()
        if ev.name in ("job_progress", "job_done") and self._listener is not None:
            self._listener.issue_progress(
                str(ev.data.get("job_id")), str(ev.data.get("state")), int(ev.data.get("plates_done") or 0)
            )
        if ev.name == "fault":
            recovered = not ev.data.get("raised")
            detail = str(ev.data.get("fault")) + (f" (job {ev.data['job_id']})" if ev.data.get("job_id") else "")
            self._notices.put_nowait(("fault", ("plate-issuer", detail, recovered)))

    def _on_io_event(self, ev: Any) -> None:
        if ev.name == "presence_changed" and ev.data.get("input") in ("loop", "beam"):
            barrier = ev.data["barrier"]
            if self.passages.presence(barrier, ev.data["input"], bool(ev.data["present"])):
                self._notices.put_nowait(("passed", (barrier,)))

    async def _poll(self) -> None:
        """Board events drive passage detection; this slower poll re-reads status (missed events, link health)."""
        while True:
            await self._poll_once()
            await asyncio.sleep(self.poll_s)  # the poll period

    async def _poll_once(self) -> None:
        """One status read, applied by the detector only where no presence event came in since it was sent."""
        try:
            if self.io.online:
                mark = self.passages.mark()
                st = await self.io.status()
                if not self._online:
                    self._online = True
                    await self._fault("io-board", "recovered", True)
                for barrier in self.passages.snapshot(
                    mark, {n: (b.loop_occupied, b.beam_blocked) for n, b in st.barriers.items()}
                ):
                    self._notices.put_nowait(("passed", (barrier,)))
            elif self._online:
                self._online = False
                await self._fault("io-board", "link down", False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a board problem becomes an alert, never a crash
            if self._online:
                self._online = False
                await self._fault("io-board", str(exc) or type(exc).__name__, False)

    def health(self) -> list[BoardHealth]:
        out = []
        for name, board in (("io-board", self.io), ("plate-issuer", self.issuer)):
            s = board.stats
            out.append(
                BoardHealth(
                    name=name,
                    online=bool(board.online),
                    frames_tx=s.frames_tx,
                    frames_rx=s.frames_rx,
                    crc_errors=s.crc_errors,
                    retransmits=s.retransmits,
                    timeouts=s.timeouts,
                    reconnects=s.reconnects,
                    rtt_ms_p50=s.rtt_ms_p50,
                    rtt_ms_p99=s.rtt_ms_p99,
                )
            )
        return out
