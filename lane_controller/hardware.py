"""The lane's hardware as the controller sees it: two barriers with lights and loops, and a plate issuer.

Two implementations of one small interface:

* :class:`BoardHardware` drives the real lane-bus boards (or the simulated
  boards served by ``passlane sim``) through the host driver ``edge.lanebus``.
* :class:`SimulatedHardware` is an in-process stand-in used when lane.toml
  names no board URL (development, the bench): a vehicle passes a barrier
  ``pass_after_s`` after it opens, and the plate issuer keeps an idempotent
  job ledger (optionally in a file, as the real issuer keeps it in flash).

Faults never escape as crashes: a failed command raises :class:`HardwareFault`,
which the lane turns into a case hold and an alert.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge.contract import BoardHealth

log = logging.getLogger("passlane.hardware")

PassedCallback = Callable[[str], Awaitable[None]]
FaultCallback = Callable[[str, str, bool], Awaitable[None]]  # device, detail, recovered?


class HardwareFault(RuntimeError):
    def __init__(self, device: str, detail: str) -> None:
        super().__init__(f"{device}: {detail}")
        self.device = device
        self.detail = detail


class LaneHardware:
    """What the lane controller needs from its devices."""

    on_vehicle_passed: PassedCallback | None = None
    on_fault: FaultCallback | None = None
    on_issue_progress: Callable[[str, str, int], None] | None = None  # job id, state, plates done

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def open_barrier(self, barrier: str) -> None: ...
    async def close_barrier(self, barrier: str) -> None: ...
    async def set_light(self, barrier: str, colour: str) -> None: ...
    async def issue(self, job_id: str, plate_type: str, text: str) -> None: ...
    async def status(self) -> dict[str, Any]: ...

    def health(self) -> list[BoardHealth]:
        return []

    async def _passed(self, barrier: str) -> None:
        if self.on_vehicle_passed is not None:
            await self.on_vehicle_passed(barrier)

    async def _fault(self, device: str, detail: str, recovered: bool = False) -> None:
        if self.on_fault is not None:
            await self.on_fault(device, detail, recovered)


class SimulatedHardware(LaneHardware):
    def __init__(self, *, pass_after_s: float | None = 0.2, issue_s: float = 0.0, ledger: Path | None = None) -> None:
        self.pass_after_s = pass_after_s
        self.issue_s = issue_s
        self.ledger_path = ledger
        self.barriers: dict[str, dict[str, Any]] = {b: {"arm": "closed", "light": "red", "loop": False, "beam": False} for b in ("entry", "exit")}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.physical_issues = 0
        self.faults: dict[str, str] = {}
        self.commands = 0
        self._tasks: set[asyncio.Task] = set()
        if ledger is not None and ledger.exists():
            for line in ledger.read_text().splitlines():
                if line.strip():
                    job = json.loads(line)
                    self.jobs[job["job_id"]] = job

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()

    def _check(self, device: str) -> None:
        self.commands += 1
        if device in self.faults:
            raise HardwareFault(device, self.faults[device])

    async def open_barrier(self, barrier: str) -> None:
        self._check("io-board")
        b = self.barriers[barrier]
        already = b["arm"] == "open"
        b["arm"] = "open"
        if self.pass_after_s is not None and not already:
            t = asyncio.get_running_loop().create_task(self._drive_through(barrier))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _drive_through(self, barrier: str) -> None:
        await asyncio.sleep(self.pass_after_s or 0)
        await self.vehicle_pass(barrier)

    async def vehicle_pass(self, barrier: str) -> None:
        """The simulated world: a vehicle crosses the loop under the arm and clears it."""
        b = self.barriers[barrier]
        b["loop"] = True
        b["loop"] = False
        await self._passed(barrier)

    async def close_barrier(self, barrier: str) -> None:
        self._check("io-board")
        b = self.barriers[barrier]
        if b["loop"] or b["beam"]:
            raise HardwareFault("io-board", f"{barrier} close refused: presence under the arm")
        b["arm"] = "closed"

    async def set_light(self, barrier: str, colour: str) -> None:
        self._check("io-board")
        self.barriers[barrier]["light"] = colour

    async def issue(self, job_id: str, plate_type: str, text: str) -> None:
        self._check("plate-issuer")
        if job_id in self.jobs:
            return  # the issuer remembers the job: a retry never issues twice
        if self.issue_s:
            await asyncio.sleep(self.issue_s)
        job = {"job_id": job_id, "plate_type": plate_type, "text": text, "ts": time.time()}
        self.physical_issues += 1
        if self.ledger_path is not None:
            with open(self.ledger_path, "a") as fh:
                fh.write(json.dumps(job, ensure_ascii=False) + "\n")
                fh.flush()
        self.jobs[job_id] = job

    async def status(self) -> dict[str, Any]:
        return {"barriers": {k: dict(v) for k, v in self.barriers.items()},
                "issuer": {"online": "plate-issuer" not in self.faults, "jobs": len(self.jobs)},
                "faults": dict(self.faults)}

    def health(self) -> list[BoardHealth]:
        return [BoardHealth(name="io-board (sim)", online="io-board" not in self.faults, frames_tx=self.commands),
                BoardHealth(name="plate-issuer (sim)", online="plate-issuer" not in self.faults)]

    async def inject_fault(self, device: str, detail: str) -> None:
        self.faults[device] = detail
        await self._fault(device, detail, False)

    async def clear_fault(self, device: str) -> None:
        if self.faults.pop(device, None) is not None:
            await self._fault(device, "recovered", True)


class BoardHardware(LaneHardware):
    """The real lane-bus boards through the host driver (``edge.lanebus``)."""

    PLATE_TYPES = {"small_car": "blue", "new_energy": "green", "large": "yellow"}

    def __init__(self, io_url: str, issuer_url: str | None, *, poll_s: float = 1.0, issue_timeout_s: float = 120.0) -> None:
        from edge import lanebus  # imported here: the driver is only needed with real or simulated boards

        self._lanebus = lanebus
        self.io = lanebus.IoBoard(io_url)
        self.issuer = lanebus.PlateIssuer(issuer_url) if issuer_url else None
        self.poll_s = poll_s
        self.issue_timeout_s = issue_timeout_s
        self._watch: asyncio.Task | None = None
        self._last: dict[str, Any] = {}
        self._crossing: dict[str, bool] = {"entry": False, "exit": False}
        self._inputs: dict[str, dict[str, bool]] = {}
        self._online = True
        self.io.on_event(self._on_event)
        if self.issuer is not None:
            self.issuer.on_event(self._on_issuer_event)

    async def start(self) -> None:
        self._watch = asyncio.get_running_loop().create_task(self._poll())
        await self.io.start()
        if self.issuer is not None:
            try:
                await self.issuer.start()
            except Exception as exc:  # noqa: BLE001 - the lane runs; issuing waits for the issuer
                await self._fault("plate-issuer", f"could not start: {exc}", False)

    async def close(self) -> None:
        if self._watch:
            self._watch.cancel()
        await self.io.close()
        if self.issuer is not None:
            await self.issuer.close()

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

    async def issue(self, job_id: str, plate_type: str, text: str) -> None:
        if self.issuer is None:
            raise HardwareFault("plate-issuer", "no plate issuer configured")
        ptype = self.PLATE_TYPES.get(plate_type, plate_type)
        js = await self._cmd("plate-issuer", self.issuer.issue(job_id, ptype, text))
        if js.state != "done":
            js = await self._cmd("plate-issuer", self.issuer.wait_job(job_id, ("done", "paused", "interrupted"), self.issue_timeout_s, 0.1))
        if js.state != "done":
            raise HardwareFault("plate-issuer", f"job {js.state}: {js.fault}")

    async def status(self) -> dict[str, Any]:
        st = _as_dict(await self._cmd("io-board", self.io.status()))
        self._last = st
        return {"barriers": st.get("barriers", {}), "estop": st.get("estop"),
                "issuer": {"online": bool(self.issuer is not None and self.issuer.online)}}

    def _presence(self, barrier: str, loop: bool | None = None, beam: bool | None = None) -> None:
        """Track loop and photo-eye under one arm: a vehicle has passed when the beam was broken while the
        loop held a vehicle, and loop and beam are clear again (a pedestrian alone never counts)."""
        st = self._inputs.setdefault(barrier, {"loop": False, "beam": False})
        if loop is not None:
            st["loop"] = loop
        if beam is not None:
            st["beam"] = beam
        if st["beam"] and st["loop"]:
            self._crossing[barrier] = True
        elif self._crossing.get(barrier) and not st["loop"] and not st["beam"]:
            self._crossing[barrier] = False
            asyncio.get_running_loop().create_task(self._passed(barrier))

    def _on_issuer_event(self, ev: Any) -> None:
        """Job progress goes to the tablet; the issuer's own fault reports (jam, empty magazine, cover open) become alerts at once."""
        if ev.name in ("job_progress", "job_done") and self.on_issue_progress is not None:
            self.on_issue_progress(str(ev.data.get("job_id")), str(ev.data.get("state")), int(ev.data.get("plates_done") or 0))
        if ev.name == "fault":
            recovered = not ev.data.get("raised")
            detail = str(ev.data.get("fault")) + (f" (job {ev.data['job_id']})" if ev.data.get("job_id") else "")
            asyncio.get_running_loop().create_task(self._fault("plate-issuer", detail, recovered))

    def _on_event(self, ev: Any) -> None:
        if ev.name == "presence_changed" and ev.data.get("input") in ("loop", "beam"):
            self._presence(ev.data["barrier"], **{ev.data["input"]: bool(ev.data["present"])})

    async def _poll(self) -> None:
        """Board events drive passage detection; this slower poll re-reads status (missed events, link health)."""
        while True:
            try:
                if self.io.online:
                    st = await self.io.status()
                    if not self._online:
                        self._online = True
                        await self._fault("io-board", "recovered", True)
                    for name, b in st.barriers.items():
                        self._presence(name, loop=b.loop_occupied, beam=b.beam_blocked)
                elif self._online:
                    self._online = False
                    await self._fault("io-board", "link down", False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a board problem becomes an alert, never a crash
                if self._online:
                    self._online = False
                    await self._fault("io-board", str(exc) or type(exc).__name__, False)
            await asyncio.sleep(self.poll_s)

    def health(self) -> list[BoardHealth]:
        out = []
        for name, board in (("io-board", self.io), ("plate-issuer", self.issuer)):
            if board is None:
                continue
            s = board.stats
            out.append(BoardHealth(name=name, online=bool(board.online), frames_tx=s.frames_tx, frames_rx=s.frames_rx,
                                   crc_errors=s.crc_errors, retransmits=s.retransmits, timeouts=s.timeouts,
                                   reconnects=s.reconnects, rtt_ms_p50=s.rtt_ms_p50, rtt_ms_p99=s.rtt_ms_p99))
        return out


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    return dict(getattr(obj, "__dict__", {}))
