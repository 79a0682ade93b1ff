"""A simulated exam car's physical outputs, played in real time to a real exam vehicle unit.

The kinematic simulator (`site_sim.exam_car`) gives the car's track: receiver
epochs and what its switches, lever, lamps and engine do. `ExamDrive` plays it
against the unit as the car would: each epoch as NMEA sentences from a TCP
"receiver" (the unit reads it as ``socket://``), and each signal as a change
of the simulated car that the real vehicle-board firmware then senses
(`passlane sim vehicle-board`'s control). Only the world is simulated; the
unit, the board firmware and the reader are the real ones.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from exam_vehicle.gnss import Epoch
from exam_vehicle.signals import Signal, SignalChange
from exam_vehicle.track import Input

SWITCHES = {
    Signal.SEAT_BELT: "seat_belt",
    Signal.DOOR_OPEN: "door_open",
    Signal.HANDBRAKE: "handbrake",
    Signal.CLUTCH: "clutch",
    Signal.BRAKE: "brake",
    Signal.IGNITION: "ignition",
}


class NmeaServer:
    """A TCP receiver: every connected client gets every sentence sent (the unit connects with socket://host:port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="nmea-accept", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def connected(self) -> int:
        with self._lock:
            return len(self._clients)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.append(conn)

    def send(self, data: bytes) -> None:
        with self._lock:
            for conn in list(self._clients):
                try:
                    conn.sendall(data)
                except OSError:
                    self._clients.remove(conn)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for conn in self._clients:
                conn.close()
            self._clients.clear()


class CarSignals:
    """Turns the track's signal changes into what a driver does to the simulated car (the board firmware senses it)."""

    def __init__(self, control: Any) -> None:
        self.control = control
        self.neutral = True
        self.reverse = False

    def apply(self, change: SignalChange) -> None:
        s, v = change.signal, change.value
        if s in SWITCHES:
            self.control.set_switch(SWITCHES[s], bool(v))
        elif s in (Signal.GEAR_NEUTRAL, Signal.GEAR_REVERSE):
            if s is Signal.GEAR_NEUTRAL:
                self.neutral = bool(v)
            else:
                self.reverse = bool(v)
            self.control.set_gear("R" if self.reverse else "N" if self.neutral else "1")
        elif s in (Signal.TURN_LEFT, Signal.TURN_RIGHT):
            side = "left" if s is Signal.TURN_LEFT else "right"
            self.control.turn_signal(side if v else "off")
        elif s is Signal.ENGINE_RPM:
            self.control.set_engine_rpm(float(v))
        elif s is Signal.ENGINE_RUNNING and not v:
            self.control.set_engine_rpm(0.0)


class ExamDrive:
    """Plays `inputs` (a simulated car's track) in real time, `speed` times faster than they were recorded."""

    def __init__(
        self,
        inputs: list[Input],
        nmea: NmeaServer,
        signals: CarSignals,
        sentences: Callable[[Epoch], list[bytes]],
        speed: float = 1.0,
    ) -> None:
        self.inputs = inputs
        self.nmea = nmea
        self.signals = signals
        self.sentences = sentences
        self.speed = speed
        self.played = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exam-drive", daemon=True)

    def start(self) -> ExamDrive:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        if not self.inputs:
            self.done.set()
            return
        t0, wall0 = self.inputs[0].t, time.monotonic()
        for inp in self.inputs:
            due = wall0 + (inp.t - t0) / self.speed
            if self._stop.wait(max(0.0, due - time.monotonic())):  # the car's own timing, not synchronisation
                return
            if isinstance(inp, Epoch):
                self.nmea.send(b"".join(self.sentences(inp)))
            else:
                self.signals.apply(inp)
            self.played += 1
        self.done.set()
