"""The host's drivers for the two lane boards, typed async objects over BoardClient.

The board programs themselves are firmware.io_board.IoBoard and firmware.plate_issuer.PlateIssuer;
these are what the lane controller (and `passlane board`) drive them with.  The third board, the exam
vehicle's vehicle board (firmware.vehicle_board), is driven by exam_vehicle.vehicle_board; only the
decoding of its status record, which `passlane board status` shares, is here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from firmware import lanebus as lb

from .client import BoardClient
from .session import BoardEvent, BoardInfo, LinkStats, signal_value
from .session import as_text as _s
from .session import enum_name as _name


class BarrierStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arm: str
    loop_occupied: bool
    beam_blocked: bool
    edge: bool
    limit_open: bool
    limit_closed: bool
    light: str
    fault: str


class IoStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uptime_ms: int
    estop: bool
    host_link: bool
    barriers: dict[str, BarrierStatus]


class JobStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str
    plate_type: str
    state: str
    plates_done: int
    fault: str

    @property
    def done(self) -> bool:
        return self.state == "done"


class IssuerStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uptime_ms: int
    state: str
    fault: str
    cover_open: bool
    tray_occupied: bool
    magazines_empty: list[str]
    job_id: str
    job_state: str
    plates_done: int


class VehicleStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uptime_ms: int
    host_link: bool
    signals: dict[str, bool | int]  # every signal by its lane-bus name (lanebus.VEHICLE_SIGNAL_NAMES)
    pulses_per_rev: float


def vehicle_status_from(vals: list[Any]) -> VehicleStatus:
    up, host_link, bits, rpm, ppr_x10 = vals
    signals: dict[str, bool | int] = {}
    for i, name in enumerate(lb.VEHICLE_SIGNAL_NAMES):
        signals[name] = signal_value(i, rpm if i == lb.SIG_ENGINE_RPM else (bits >> i) & 1)
    return VehicleStatus(uptime_ms=up, host_link=bool(host_link), signals=signals, pulses_per_rev=ppr_x10 / 10)


def _barrier_index(barrier: str) -> int:
    try:
        return lb.BARRIERS.index(barrier)
    except ValueError:
        raise ValueError(f"barrier must be one of {lb.BARRIERS}, not {barrier!r}") from None


def io_status_from(vals: list[Any]) -> IoStatus:
    up, estop, host_link = vals[0], vals[1], vals[2]
    barriers = {}
    for i, name in enumerate(lb.BARRIERS):
        arm, inputs, light, fault = vals[3 + 4 * i : 7 + 4 * i]
        barriers[name] = BarrierStatus(
            arm=_name(lb.ARM_NAMES, arm),
            loop_occupied=bool(inputs & lb.IN_LOOP),
            beam_blocked=bool(inputs & lb.IN_BEAM),
            edge=bool(inputs & lb.IN_EDGE),
            limit_open=bool(inputs & lb.IN_LIMIT_OPEN),
            limit_closed=bool(inputs & lb.IN_LIMIT_CLOSED),
            light=_name(lb.LIGHT_NAMES, light),
            fault=_name(lb.FAULT_NAMES, fault),
        )
    return IoStatus(uptime_ms=up, estop=bool(estop), host_link=bool(host_link), barriers=barriers)


def job_from(vals: list[Any]) -> JobStatus:
    job_id, ptype, state, done, fault = vals
    return JobStatus(
        job_id=_s(job_id),
        plate_type=_name(lb.PLATE_TYPES, ptype),
        state=_name(lb.JOB_STATE_NAMES, state),
        plates_done=done,
        fault=_name(lb.FAULT_NAMES, fault),
    )


def issuer_status_from(vals: list[Any]) -> IssuerStatus:
    up, state, fault, sensors, empty, job_id, job_state, done = vals
    return IssuerStatus(
        uptime_ms=up,
        state=_name(lb.ISSUER_STATE_NAMES, state),
        fault=_name(lb.FAULT_NAMES, fault),
        cover_open=bool(sensors & lb.S_COVER_OPEN),
        tray_occupied=bool(sensors & lb.S_TRAY_OCCUPIED),
        magazines_empty=[p for i, p in enumerate(lb.PLATE_TYPES) if empty & (1 << i)],
        job_id=_s(job_id),
        job_state=_name(lb.JOB_STATE_NAMES, job_state),
        plates_done=done,
    )


class _Board:
    kind = ""

    def __init__(self, url: str, *, name: str = "", **client_kw: Any) -> None:
        self.client = BoardClient(url, expected_kind=self.kind, name=name, **client_kw)

    async def start(self, timeout_s: float = 5.0) -> None:
        await self.client.start(timeout_s)

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def online(self) -> bool:
        return self.client.online

    @property
    def info(self) -> BoardInfo | None:
        return self.client.info

    @property
    def stats(self) -> LinkStats:
        return self.client.stats

    def events(self) -> AsyncIterator[BoardEvent]:
        return self.client.events()

    def on_event(self, callback: Callable[[BoardEvent], Any]) -> Callable[[], None]:
        return self.client.on_event(callback)


class IoBoardDriver(_Board):
    """The host's driver for the I/O board: two barriers (entry, exit) with lights, loops, photo-eyes,
    edges, e-stop."""

    kind = "io-board"

    async def _barrier_cmd(self, mtype: int, barrier: str) -> str:
        r = await self.client.command(mtype, [_barrier_index(barrier)])
        return _name(lb.ARM_NAMES, r.values[0] if r.values else 0)

    async def open_barrier(self, barrier: str) -> str:
        """Start opening; returns the arm state ("opening" or "open").  Completion: barrier_opened event."""
        return await self._barrier_cmd(lb.BARRIER_OPEN, barrier)

    async def close_barrier(self, barrier: str) -> str:
        """Start closing.  Raises CommandRefused(code=16 OCCUPIED) while loop/beam/edge report presence."""
        return await self._barrier_cmd(lb.BARRIER_CLOSE, barrier)

    async def stop_barrier(self, barrier: str) -> str:
        return await self._barrier_cmd(lb.BARRIER_STOP, barrier)

    async def set_light(self, barrier: str, light: str) -> str:
        if light not in lb.LIGHT_NAMES:
            raise ValueError(f"light must be one of {lb.LIGHT_NAMES}")
        r = await self.client.command(lb.SET_LIGHT, [_barrier_index(barrier), lb.LIGHT_NAMES.index(light)])
        return _name(lb.LIGHT_NAMES, r.values[0] if r.values else 0)

    async def status(self) -> IoStatus:
        r = await self.client.command(lb.GET_STATUS)
        assert r.values is not None
        return io_status_from(r.values)

    async def wait_arm(self, barrier: str, arm: str, timeout_s: float = 10.0, poll_s: float = 0.05) -> IoStatus:
        """Poll status until the barrier's arm is `arm`; TimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            st = await self.status()
            if st.barriers[barrier].arm == arm:
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"{barrier} arm is {st.barriers[barrier].arm}, not {arm}, after {timeout_s} s")
            await asyncio.sleep(poll_s)


class PlateIssuerDriver(_Board):
    """The host's driver for the plate issuer: idempotent ISSUE per job id."""

    kind = "plate-issuer"

    async def issue(self, job_id: str, plate_type: str, text: str) -> JobStatus:
        if plate_type not in lb.PLATE_TYPES:
            raise ValueError(f"plate_type must be one of {lb.PLATE_TYPES}")
        r = await self.client.command(lb.ISSUE, [job_id, lb.PLATE_TYPES.index(plate_type), text])
        assert r.values is not None
        return job_from(r.values)

    async def job_status(self, job_id: str) -> JobStatus:
        r = await self.client.command(lb.JOB_STATUS, [job_id])
        assert r.values is not None
        return job_from(r.values)

    async def status(self) -> IssuerStatus:
        r = await self.client.command(lb.GET_STATUS)
        assert r.values is not None
        return issuer_status_from(r.values)

    async def clear_fault(self) -> IssuerStatus:
        await self.client.command(lb.CLEAR_FAULT)
        return await self.status()

    async def wait_job(
        self, job_id: str, states: tuple[str, ...] = ("done",), timeout_s: float = 30.0, poll_s: float = 0.1
    ) -> JobStatus:
        deadline = time.monotonic() + timeout_s
        while True:
            js = await self.job_status(job_id)
            if js.state in states:
                return js
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is {js.state}, not {states}, after {timeout_s} s")
            await asyncio.sleep(poll_s)
