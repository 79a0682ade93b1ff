"""The machines' own time in a vehicle's visit, so that it is not counted as time the software adds.

A barrier arm's travel, a car driving under the arm or backing off the loop, and the plate issuer's feed,
print and eject take the time they take in the simulated world: sped up by the site's speed, and slowed
where the real-time firmware must still see a pulse (`firmware.sim.server`: no pulse shorter than 50 ms of
real time, at any speed). The board simulators log each motion's start and end in world time;
`WorldMark` maps those times onto this machine's monotonic clock, and `covered_s` says how much of a
step's real time some machine was moving. What the firmware and the lane then take to notice (debounce,
board loops, polls) stays in the software's share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

# a motion's first log event -> its last (firmware.sim.world)
MOTIONS = {
    "arm_opening": "arm_open",
    "vehicle_moving": "vehicle_passed",
    "vehicle_backing_off": "vehicle_left",
    "feed_started": "plate_at_printer",
    "print_started": "print_done",
    "eject_started": "plate_issued",
}
_START_OF = {end: start for start, end in MOTIONS.items()}

Interval = tuple[float, float]


class Board(Protocol):
    """A board simulator's control (`firmware.sim.control.SimControl`, or `SimBoardServer.control()`)."""

    def state(self) -> dict[str, Any]: ...

    def world_log(self, since: int = 0) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class WorldMark:
    """A board simulator's world clock, and where its log stood when a visit began."""

    started_monotonic: float
    scale: float
    log_entries: int

    @classmethod
    def of(cls, state: dict[str, Any]) -> WorldMark:
        """From a simulator's `state()` (its `clock` and `log_entries`)."""
        clock = state["clock"]
        return cls(float(clock["started_monotonic"]), float(clock["scale"]), int(state["log_entries"]))

    def monotonic(self, world_t: float) -> float:
        return self.started_monotonic + world_t / self.scale

    def motions(self, entries: Iterable[dict[str, Any]]) -> list[Interval]:
        """The motions that ended in these log entries, on this machine's monotonic clock.

        A motion cut short (an arm reversed or stopped, a plate jammed, the mechanism stopped) has no end
        event and is left out: the world was not doing what the visit waited for.
        """
        started: dict[tuple[str, str], float] = {}
        out: list[Interval] = []
        for entry in entries:
            event, key = entry["event"], str(entry.get("barrier", ""))
            if event in MOTIONS:
                started[(event, key)] = float(entry["t"])
            elif event in _START_OF and (t0 := started.pop((_START_OF[event], key), None)) is not None:
                out.append((self.monotonic(t0), self.monotonic(float(entry["t"]))))
        return out


def covered_s(intervals: Iterable[Interval], start: float, end: float) -> float:
    """Seconds of [start, end] inside at least one interval (two machines moving at once count once)."""
    clipped = sorted((max(start, a), min(end, b)) for a, b in intervals if b > start and a < end)
    total = 0.0
    run_start, run_end = None, None
    for a, b in clipped:
        if run_end is None or a > run_end:
            if run_start is not None and run_end is not None:
                total += run_end - run_start
            run_start, run_end = a, b
        else:
            run_end = max(run_end, b)
    if run_start is not None and run_end is not None:
        total += run_end - run_start
    return total


def mark_boards(boards: Iterable[Board]) -> list[tuple[Board, WorldMark]]:
    """Each board with where its world stands now: the start of a visit."""
    return [(board, WorldMark.of(board.state())) for board in boards]


def moving_since(marks: Iterable[tuple[Board, WorldMark]]) -> list[Interval]:
    """The machines' motions on these boards since they were marked, on this machine's monotonic clock."""
    return [span for board, mark in marks for span in mark.motions(board.world_log(since=mark.log_entries))]
