"""Client for a simulator's control port (JSON lines: one request object per
line, one reply object per line: {"ok": true, "result": ...} or
{"ok": false, "error": "..."})."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any


class SimControlError(RuntimeError):
    pass


class SimControl:
    """Drive a simulator's world over its control port.

    I/O board: `vehicle_arrive(b)` puts a car on the loop in front of arm `b`
    ("entry"/"exit"); `vehicle_pass(b)` makes it drive under the arm as soon
    as the arm is fully open (nose breaks the beam after 0.6 s, tail leaves
    the loop after 1.6 s and the beam after 2.2 s, world time);
    `vehicle_leave(b)` backs it off the loop; `block_beam(b, s)` is a
    pedestrian in the photo-eye; `press_edge(b)`; `estop(pressed)`.
    Plate issuer: `inject_fault(kind)` (jam, magazine_empty, cover_open,
    print_failure), `clear_fault()` (the operator fixes it), `refill`,
    `take_plates`.  Vehicle board (the test car): `set_switch(name, on,
    bounce_ms=0)` for seat_belt, door_open, handbrake, clutch, brake,
    ignition; `set_gear(g)` (P R N D 1-6: neutral and reverse switches);
    `turn_signal(side, flash_hz=1.5)` (off, left, right, hazard: the lamps
    really flash); `set_engine_rpm(rpm)` (tach pulses; needs the ignition on).
    All: `state()`, `world_log()` (every arm motion,
    presence change and plate, with world time "t"; an `arm_closing` entry
    carries `presence`, and `arm_struck_presence` is logged if an arm kept
    going down onto presence), `unplug(seconds)`, `power_cycle()`.
    `SimBoardServer.control()` gives the same methods in-process.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._f = self._sock.makefile("rwb")
        self._lock = threading.Lock()

    def call(self, op: str, **args: Any) -> Any:
        with self._lock:
            self._f.write((json.dumps({"op": op, **args}) + "\n").encode())
            self._f.flush()
            line = self._f.readline()
        if not line:
            raise SimControlError("control connection closed")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise SimControlError(reply.get("error", "error"))
        return reply.get("result")

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            self._sock.close()

    def __enter__(self) -> "SimControl":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # the world
    def vehicle_arrive(self, barrier: str = "entry") -> None:
        self.call("vehicle_arrive", barrier=barrier)

    def vehicle_pass(self, barrier: str = "entry") -> None:
        self.call("vehicle_pass", barrier=barrier)

    def vehicle_leave(self, barrier: str = "entry") -> None:
        self.call("vehicle_leave", barrier=barrier)

    def block_beam(self, barrier: str = "entry", seconds: float = 2.0) -> None:
        self.call("block_beam", barrier=barrier, seconds=seconds)

    def press_edge(self, barrier: str = "entry") -> None:
        self.call("press_edge", barrier=barrier)

    def estop(self, pressed: bool = True) -> None:
        self.call("estop", pressed=pressed)

    def inject_fault(self, kind: str, plate_type: str | None = None) -> None:
        self.call("inject_fault", kind=kind, plate_type=plate_type)

    def clear_fault(self) -> None:
        self.call("clear_fault")

    def refill(self, plate_type: str, n: int) -> None:
        self.call("refill", plate_type=plate_type, n=n)

    def take_plates(self) -> list[str]:
        return list(self.call("take_plates"))

    def set_switch(self, switch: str, on: bool, bounce_ms: float = 0.0) -> None:
        self.call("set_switch", switch=switch, on=on, bounce_ms=bounce_ms)

    def set_gear(self, gear: str) -> None:
        self.call("set_gear", gear=gear)

    def turn_signal(self, side: str, flash_hz: float = 1.5) -> None:
        self.call("turn_signal", side=side, flash_hz=flash_hz)

    def set_engine_rpm(self, rpm: float) -> None:
        self.call("set_engine_rpm", rpm=rpm)

    def state(self) -> dict[str, Any]:
        return dict(self.call("state"))

    def world_log(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self.call("world_log", since=since))

    # the board
    def unplug(self, seconds: float = 2.0) -> None:
        self.call("unplug", seconds=seconds)

    def power_cycle(self) -> None:
        self.call("power_cycle")

    def ping(self) -> str:
        return str(self.call("ping"))
