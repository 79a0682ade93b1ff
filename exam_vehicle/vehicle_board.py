"""The exam vehicle's driver for its vehicle board: the car's signals as `SignalChange`s.

The board (firmware/vehicle_board.py, hardware_specs/vehicle-board.md) sends a reliable
SIGNAL_CHANGED event for every change of a debounced signal and a STATUS heartbeat with every
signal each second (hardware_specs/lane-bus.md).  This driver, on edge.lanebus's `BoardClient`,
turns them into the judge's inputs:

* every board event becomes one `SignalChange`, stamped on arrival with the caller's clock (the
  unit's clock, the same one as `Epoch.t`);
* a heartbeat that shows a signal other than the driver last reported (the first heartbeat after
  start, the board's events lost while the host was away for longer than the board's event window,
  a board reset) becomes a `SignalChange` for each such signal, so the stream always ends at the
  board's state.  Engine speed counts as different there only by twice the board's reporting step.

Values arrive in the board's order, so a repeat of what was already reported is dropped: the judge
sees each change once.  `snapshot()` asks the board for every signal now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

from edge.lanebus.boards import VehicleStatus, vehicle_status_from
from edge.lanebus.client import BoardClient, BoardEvent, BoardInfo, BoardOffline, LaneBusHostError, LinkStats
from exam_vehicle.signals import Signal, SignalChange
from firmware import lanebus as lb
from firmware.vehicle_board import rpm_report_step

log = logging.getLogger("passlane.exam.vehicle_board")

# the board's signal ids in order; a name the judge does not know fails here, at import
SIGNALS: tuple[Signal, ...] = tuple(Signal(name) for name in lb.VEHICLE_SIGNAL_NAMES)

Value = bool | int


def _same(signal: Signal, old: Value, new: Value, pulses_per_rev_x10: int) -> bool:
    """Whether a heartbeat's `new` tells nothing `old` did not.  Engine speed: the heartbeat's is one
    measurement, which may be off by the board's reporting step where the board (which reports a move
    only when two measurements show it) rightly said nothing; twice the step is a report that was lost."""
    if signal is Signal.ENGINE_RPM:
        step = 2 * rpm_report_step(pulses_per_rev_x10)
        return abs(int(new) - int(old)) < step and (new == 0) == (old == 0)
    return old == new


def _values_of(st: VehicleStatus) -> dict[Signal, Value]:
    return {sig: st.signals[sig.value] for sig in SIGNALS}


def pulses_per_rev_x10(pulses_per_rev: float) -> int:
    """The lane bus's tenths, checked against the board's range (0.5 to 12 pulses per revolution)."""
    x10 = round(pulses_per_rev * 10)
    if not lb.MIN_PULSES_PER_REV_X10 <= x10 <= lb.MAX_PULSES_PER_REV_X10:
        raise ValueError(
            f"pulses_per_rev must be {lb.MIN_PULSES_PER_REV_X10 / 10} to "
            f"{lb.MAX_PULSES_PER_REV_X10 / 10}, not {pulses_per_rev}"
        )
    return x10


class VehicleBoardDriver:
    """The vehicle board on any pyserial URL: `start()`, `changes()` / `on_change()`, `snapshot()`, `close()`.

    `clock` stamps each change as it arrives.  `pulses_per_rev` (the car's tach pulses per engine
    revolution), when given, is set on the board at start and again whenever a heartbeat shows the
    board with another setting (after a reset it runs with its /board.cfg value until then)."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], float],
        pulses_per_rev: float | None = None,
        name: str = "",
        **client_kw: Any,
    ) -> None:
        self._tach_x10 = pulses_per_rev_x10(pulses_per_rev) if pulses_per_rev is not None else None
        self.client = BoardClient(url, expected_kind="vehicle-board", name=name, **client_kw)
        self._clock = clock
        self._values: dict[Signal, Value] = {}
        self._queues: list[asyncio.Queue[SignalChange]] = []
        self._callbacks: list[Callable[[SignalChange], Any]] = []
        self._complete = asyncio.Event()  # every signal known (the first heartbeat arrived)
        self._tach_task: asyncio.Task[None] | None = None
        self.client.on_event(self._on_board_event)

    # ---------------------------------------------------------------- lifecycle
    async def start(self, timeout_s: float = 5.0) -> None:
        """Handshake, set the tach, and wait for the first heartbeat: afterwards `values` holds every
        signal and its first changes (every signal's value at start) have gone out."""
        await self.client.start(timeout_s)
        try:
            if self._tach_x10 is not None:
                await self._ensure_tach()
            await asyncio.wait_for(self._complete.wait(), timeout_s + lb.HEARTBEAT_MS / 1000)
        except TimeoutError:
            await self.close()
            raise BoardOffline(f"{self.client.name}: no STATUS heartbeat within {timeout_s} s") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._tach_task is not None:
            self._tach_task.cancel()
            await asyncio.gather(self._tach_task, return_exceptions=True)
            self._tach_task = None
        await self.client.close()

    async def __aenter__(self) -> VehicleBoardDriver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- what the judge reads
    def changes(self) -> AsyncGenerator[SignalChange, None]:
        """Every `SignalChange` from now on, in arrival order (none dropped); `aclose()` it when done."""
        q: asyncio.Queue[SignalChange] = asyncio.Queue()
        self._queues.append(q)

        async def iterate() -> AsyncGenerator[SignalChange, None]:
            try:
                while True:
                    yield await q.get()
            finally:
                self._queues.remove(q)

        return iterate()

    def on_change(self, callback: Callable[[SignalChange], Any]) -> Callable[[], None]:
        """Call `callback(change)` on the event loop for every change; returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    @property
    def values(self) -> dict[Signal, Value]:
        """Every signal as last reported to the judge (empty before the first heartbeat)."""
        return dict(self._values)

    async def snapshot(self) -> dict[Signal, Value]:
        """Every signal as the board has it now (GET_STATUS); engine speed as measured this instant."""
        r = await self.client.command(lb.GET_STATUS)
        assert r.values is not None
        return _values_of(vehicle_status_from(r.values))

    async def set_pulses_per_rev(self, pulses_per_rev: float) -> float:
        """Set the board's tach scale now and keep it set (after a board reset too)."""
        self._tach_x10 = pulses_per_rev_x10(pulses_per_rev)
        r = await self.client.command(lb.SET_TACH, [self._tach_x10])
        assert r.values is not None
        return int(r.values[0]) / 10

    @property
    def online(self) -> bool:
        return self.client.online

    @property
    def info(self) -> BoardInfo | None:
        return self.client.info

    @property
    def stats(self) -> LinkStats:
        return self.client.stats

    # ---------------------------------------------------------------- board events in
    def _on_board_event(self, ev: BoardEvent) -> None:
        if ev.name == "signal_changed":
            try:
                signal = Signal(ev.data["signal"])
            except ValueError:
                log.warning("%s: unknown signal %r", self.client.name, ev.data["signal"])
                return
            self._report(((signal, ev.data["value"]),), None)
        elif ev.name == "status":
            st = vehicle_status_from([ev.data[f[0]] for f in lb.VEHICLE_STATUS])
            self._report(_values_of(st).items(), round(st.pulses_per_rev * 10))
            if not self._complete.is_set() and len(self._values) == len(SIGNALS):
                self._complete.set()
            if self._tach_x10 is not None and round(st.pulses_per_rev * 10) != self._tach_x10:
                self._ensure_tach()

    def _report(self, values: Iterable[tuple[Signal, Value]], heartbeat_ppr_x10: int | None) -> None:
        """Send out the values that differ from the last reported.  A heartbeat's engine speed is a
        measurement (different only by the board's reporting step at its tach setting); an event is
        the board's report."""
        t: float | None = None
        for signal, value in values:
            old = self._values.get(signal)
            if old is not None and (
                old == value if heartbeat_ppr_x10 is None else _same(signal, old, value, heartbeat_ppr_x10)
            ):
                continue
            self._values[signal] = value
            if t is None:
                t = self._clock()
            change = SignalChange(t=t, signal=signal, value=value)
            for q in self._queues:
                q.put_nowait(change)
            for cb in list(self._callbacks):
                try:
                    cb(change)
                except Exception:
                    log.exception("%s: change callback failed", self.client.name)

    # ---------------------------------------------------------------- tach setting
    def _ensure_tach(self) -> asyncio.Task[None]:
        if self._tach_task is None or self._tach_task.done():
            self._tach_task = asyncio.get_running_loop().create_task(self._send_tach())
        return self._tach_task

    async def _send_tach(self) -> None:
        assert self._tach_x10 is not None
        try:
            await self.client.command(lb.SET_TACH, [self._tach_x10])
        except LaneBusHostError as e:  # the next heartbeat that still shows the old setting tries again
            log.warning("%s: could not set the tach to %s pulses/rev: %s", self.client.name, self._tach_x10 / 10, e)
