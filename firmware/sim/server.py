"""Run the real board firmware on a simulated HAL and serve its serial byte
stream over TCP (pyserial URL ``socket://HOST:PORT``), with a JSON-lines
control port for the simulated world.

    with SimBoardServer("io-board", time_scale=10) as sim:
        url = sim.url            # socket://127.0.0.1:<port>
        ctl = sim.control()      # in-process SimControl-like handle

Threads: one runs the firmware loop (as the RP2040's main loop would), one
accepts/reads the serial TCP connection, one serves the control port.  The
firmware's clock (`ticks_ms`) is real time, starting just below the 2**30
wrap so the wrap-around is exercised; the world (arm travel, vehicles,
issuer mechanism) runs `time_scale` times faster than real time.  The test
car of `vehicle-board` always runs in real time: its flashing lamps and tach
pulses are what the firmware times and counts against its own clock.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import traceback
from typing import Any, Callable

from firmware import lanebus as lb
from firmware.io_board import IoBoard
from firmware.plate_issuer import PlateIssuer
from firmware.sim.world import CAR_PULSES_PER_REV, CarWorld, IoWorld, IssuerWorld
from firmware.ticks import TICKS_MAX
from firmware.vehicle_board import VehicleBoard

KINDS = ("io-board", "plate-issuer", "vehicle-board")


class SimHal:
    """The simulated HAL: same methods as firmware.hal_rp2's HALs."""

    def __init__(self, server: "SimBoardServer") -> None:
        self.server = server
        self._rx = bytearray()
        self._rx_lock = threading.Lock()
        self._rx_event = threading.Event()
        self._t0 = time.monotonic()
        self._tick0 = TICKS_MAX - 20_000 + 1  # wraps 20 s after boot
        self._boot_id = random.getrandbits(32)
        self.watchdog_fed = 0

    # common
    def ticks_ms(self) -> int:
        return (self._tick0 + int((time.monotonic() - self._t0) * 1000)) & TICKS_MAX

    def serial_read(self, buf: bytearray) -> int:
        with self._rx_lock:
            n = min(len(buf), len(self._rx))
            if n:
                buf[:n] = self._rx[:n]
                del self._rx[:n]
            return n

    def serial_write(self, data: bytes) -> None:
        self.server._serial_out(data)

    def feed_rx(self, data: bytes) -> None:
        with self._rx_lock:
            self._rx.extend(data)
        self._rx_event.set()

    def feed_watchdog(self) -> None:
        self.watchdog_fed += 1

    def idle(self, ms: int) -> None:
        self._rx_event.wait(ms / 1000)
        self._rx_event.clear()

    def board_id(self) -> str:
        return self.server.board_id

    def boot_id(self) -> int:
        return self._boot_id

    # I/O board
    def read_inputs(self) -> int:
        with self.server.world_lock:
            self.server.advance_world()
            return self.server.io_world.input_word()

    def write_outputs(self, word: int) -> None:
        with self.server.world_lock:
            self.server.advance_world()
            self.server.io_world.set_relays(word)

    # plate issuer
    def read_sensors(self) -> int:
        with self.server.world_lock:
            self.server.advance_world()
            return self.server.issuer_world.sensors()

    def start_feed(self, plate_type: int) -> None:
        with self.server.world_lock:
            self.server.issuer_world.start_feed(plate_type)

    def start_print(self, text: bytes) -> None:
        with self.server.world_lock:
            self.server.issuer_world.start_print(text)

    def start_eject(self) -> None:
        with self.server.world_lock:
            self.server.issuer_world.start_eject()

    def stop_mechanism(self) -> None:
        with self.server.world_lock:
            self.server.issuer_world.stop_mechanism()

    def journal_read(self) -> bytes | None:
        return self.server.journal_read()

    def journal_write(self, data: bytes) -> None:
        self.server.journal_write(data)

    # vehicle board
    def read_signals(self) -> int:
        with self.server.world_lock:
            self.server.advance_world()
            return self.server.car_world.input_word()

    def pulse_count(self) -> int:
        with self.server.world_lock:
            self.server.advance_world()
            return self.server.car_world.pulse_count()


class SimBoardServer:
    def __init__(
        self,
        kind: str = "io-board",
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int | None = 0,
        *,
        time_scale: float = 1.0,
        world_log: str | None = None,
        baud: int | None = None,
        board_id: str | None = None,
        journal_path: str | None = None,
        line_noise: float = 0.0,
        noise_seed: int | None = None,
        pulses_per_rev: float = CAR_PULSES_PER_REV,
    ) -> None:
        """line_noise: probability that each byte on the cable (either direction) arrives corrupted.
        pulses_per_rev: the test car's tach pulses per revolution, and the vehicle board's setting at boot
        (its /board.cfg `ppr=`)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind = kind
        self.host = host
        # the car is never sped up: the firmware times its lamps and counts its pulses in real time
        self.time_scale = 1.0 if kind == "vehicle-board" else float(time_scale)
        self.pulses_per_rev = pulses_per_rev
        self.baud = baud
        self.line_noise = float(line_noise)
        self._noise_rng = random.Random(noise_seed)
        self.bytes_corrupted = 0
        self.board_id = board_id or f"sim-{kind}-{random.getrandbits(24):06x}"
        self.journal_path = journal_path
        self._journal: bytes | None = None
        self._log_file = open(world_log, "a", encoding="utf-8") if world_log else None  # noqa: SIM115 - open for the server's life, closed by stop()
        sink = self._write_log if self._log_file else None
        self.world_lock = threading.RLock()
        scale = max(1.0, self.time_scale)
        # the firmware clock is real time: its reaction window and the shortest
        # pulse it reliably sees (50 ms real) are stretched in world time
        self.io_world = IoWorld(sink, reaction_s=0.1 * scale, min_pulse_s=0.05 * scale)
        self.issuer_world = IssuerWorld(sink, min_pulse_s=0.05 * scale)
        self.car_world = CarWorld(sink, pulses_per_rev)
        worlds: dict[str, IoWorld | IssuerWorld | CarWorld] = {
            "io-board": self.io_world,
            "plate-issuer": self.issuer_world,
            "vehicle-board": self.car_world,
        }
        self.world = worlds[kind]
        self._world_t0 = time.monotonic()
        self._running = False
        self._threads: list[threading.Thread] = []
        self._client: socket.socket | None = None
        self._client_lock = threading.Lock()
        self._unplugged_until = 0.0
        self.boots = 0
        self.crashes = 0
        self.firmware: Any = None
        self.hal: SimHal | None = None
        self._serial_sock = socket.create_server((host, port))
        self.port = self._serial_sock.getsockname()[1]
        self._control_sock = None
        self.control_port: int | None = None
        if control_port is not None:
            self._control_sock = socket.create_server((host, control_port))
            self.control_port = self._control_sock.getsockname()[1]
        self._boot_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    # ---------------------------------------------------------------- world
    @property
    def world_started_monotonic(self) -> float:
        """The world's time 0 on this machine's monotonic clock (world time = elapsed x time scale)."""
        return self._world_t0

    def world_time(self) -> float:
        return (time.monotonic() - self._world_t0) * self.time_scale

    def advance_world(self) -> None:
        self.world.advance(self.world_time())

    def _write_log(self, entry: dict[str, Any]) -> None:
        assert self._log_file is not None
        self._log_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._log_file.flush()

    def world_log(self, since: int = 0) -> list[dict[str, Any]]:
        """The world's log from entry `since` on (a copy of that part only)."""
        with self.world_lock:
            return self.world.log.entries[since:]

    # ---------------------------------------------------------------- journal ("flash")
    def journal_read(self) -> bytes | None:
        if self.journal_path:
            try:
                with open(self.journal_path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
        return self._journal

    def journal_write(self, data: bytes) -> None:
        if self.journal_path:
            tmp = self.journal_path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.journal_path)
        else:
            self._journal = bytes(data)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> "SimBoardServer":
        self._running = True
        self._boot()
        for target in (self._firmware_loop, self._serial_accept_loop):
            th = threading.Thread(target=target, daemon=True, name=f"sim-{self.kind}-{target.__name__}")
            th.start()
            self._threads.append(th)
        if self._control_sock is not None:
            th = threading.Thread(target=self._control_accept_loop, daemon=True, name="sim-control")
            th.start()
            self._threads.append(th)
        return self

    def stop(self) -> None:
        self._running = False
        for s in (self._serial_sock, self._control_sock):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() (Linux)
                except OSError:
                    pass
                s.close()
        self._drop_client()
        for th in self._threads:
            th.join(timeout=2)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "SimBoardServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _boot(self) -> None:
        with self._boot_lock:
            self.hal = SimHal(self)
            if self.kind == "io-board":
                self.firmware = IoBoard(self.hal)
            elif self.kind == "plate-issuer":
                self.firmware = PlateIssuer(self.hal)
            else:
                self.firmware = VehicleBoard(self.hal, round(self.pulses_per_rev * 10))
            self.boots += 1
            with self.world_lock:
                self.world.log(self.world.t, "board_boot", boots=self.boots)

    def power_cycle(self) -> None:
        """Reset the board (power off/on): RAM state is lost, the journal kept."""
        self._boot()

    def _firmware_loop(self) -> None:
        while self._running:
            with self._boot_lock:
                fw, hal = self.firmware, self.hal
            try:
                fw.step()
            except Exception:  # noqa: BLE001 - the watchdog would reset the real board
                self.crashes += 1
                traceback.print_exc()
                self._boot()
                continue
            assert hal is not None
            hal.idle(2)

    # ---------------------------------------------------------------- serial over TCP
    def _serial_out(self, data: bytes) -> None:
        with self._client_lock:
            c = self._client
        if c is None:
            return  # nobody listening: the bytes are lost, as on an unplugged cable
        if self.baud:
            time.sleep(len(data) * 10 / self.baud)
        try:
            c.sendall(self._through_cable(data))
        except OSError:
            self._drop_client()

    def _through_cable(self, data: bytes) -> bytes:
        """A noisy cable flips bits: each byte is corrupted with probability `line_noise`."""
        if not self.line_noise:
            return data
        out = bytearray(data)
        for i in range(len(out)):
            if self._noise_rng.random() < self.line_noise:
                out[i] ^= self._noise_rng.randint(1, 255)
                self.bytes_corrupted += 1
        return bytes(out)

    def _drop_client(self) -> None:
        with self._client_lock:
            c, self._client = self._client, None
        if c is not None:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def unplug(self, seconds: float) -> None:
        """Pull the USB cable: drop the link and refuse connections for `seconds`."""
        self._unplugged_until = time.monotonic() + seconds
        self._drop_client()
        with self.world_lock:
            self.world.log(self.world.t, "usb_unplugged", seconds=seconds)

    def _serial_accept_loop(self) -> None:
        while self._running:
            try:
                conn, _ = self._serial_sock.accept()
            except OSError:
                return
            if time.monotonic() < self._unplugged_until:
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._drop_client()
            with self._client_lock:
                self._client = conn
            threading.Thread(target=self._serial_read_loop, args=(conn,), daemon=True).start()

    def _serial_read_loop(self, conn: socket.socket) -> None:
        while self._running:
            try:
                data = conn.recv(4096)
            except OSError:
                break
            if not data:
                break
            if self.baud:
                time.sleep(len(data) * 10 / self.baud)
            hal = self.hal
            if hal is not None:
                hal.feed_rx(self._through_cable(data))
        with self._client_lock:
            if self._client is conn:
                self._client = None
        try:
            conn.close()
        except OSError:
            pass

    # ---------------------------------------------------------------- control
    def control(self) -> "LocalControl":
        return LocalControl(self)

    def handle_control(self, req: dict[str, Any]) -> Any:
        op = req.get("op")
        fn: Callable[..., Any] | None = getattr(LocalControl(self), str(op), None)
        if op is None or op.startswith("_") or fn is None:
            raise ValueError(f"unknown op {op!r}")
        args = {k: v for k, v in req.items() if k != "op"}
        return fn(**args)

    def _control_accept_loop(self) -> None:
        assert self._control_sock is not None
        while self._running:
            try:
                conn, _ = self._control_sock.accept()
            except OSError:
                return
            threading.Thread(target=self._control_conn, args=(conn,), daemon=True).start()

    def _control_conn(self, conn: socket.socket) -> None:
        f = conn.makefile("rwb")
        try:
            for line in f:
                if not line.strip():
                    continue
                try:
                    req = json.loads(line)
                    reply = {"ok": True, "result": self.handle_control(req)}
                except Exception as e:  # noqa: BLE001 - the reply names the error; the server keeps running
                    reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                f.write((json.dumps(reply, ensure_ascii=False) + "\n").encode())
                f.flush()
        except OSError:
            pass
        finally:
            try:
                f.close()
                conn.close()
            except OSError:
                pass


class LocalControl:
    """The control operations, called in-process (the JSON port calls the same)."""

    def __init__(self, server: SimBoardServer) -> None:
        self.s = server

    def _io(self) -> IoWorld:
        if self.s.kind != "io-board":
            raise ValueError("not an io-board simulator")
        return self.s.io_world

    def _issuer(self) -> IssuerWorld:
        if self.s.kind != "plate-issuer":
            raise ValueError("not a plate-issuer simulator")
        return self.s.issuer_world

    def _car(self) -> CarWorld:
        if self.s.kind != "vehicle-board":
            raise ValueError("not a vehicle-board simulator")
        return self.s.car_world

    def _world_op(self, fn: Callable[[float], None]) -> None:
        with self.s.world_lock:
            self.s.advance_world()
            fn(self.s.world.t)

    def vehicle_arrive(self, barrier: str = "entry") -> None:
        self._world_op(self._io().barriers[barrier].arrive)

    def vehicle_pass(self, barrier: str = "entry") -> None:
        self._world_op(self._io().barriers[barrier].want_pass)

    def vehicle_leave(self, barrier: str = "entry") -> None:
        self._world_op(self._io().barriers[barrier].leave)

    def block_beam(self, barrier: str = "entry", seconds: float = 2.0) -> None:
        self._world_op(lambda t: self._io().barriers[barrier].block_beam(t, seconds))

    def press_edge(self, barrier: str = "entry") -> None:
        self._world_op(self._io().barriers[barrier].press_edge)

    def estop(self, pressed: bool = True) -> None:
        self._world_op(lambda t: self._io().set_estop(pressed))

    def inject_fault(self, kind: str, plate_type: str | None = None) -> None:
        self._world_op(lambda t: self._issuer().inject_fault(kind, plate_type))

    def clear_fault(self) -> None:
        self._world_op(lambda t: self._issuer().clear_fault())

    def refill(self, plate_type: str, n: int) -> None:
        self._world_op(lambda t: self._issuer().refill(plate_type, n))

    def set_switch(self, switch: str, on: bool, bounce_ms: float = 0.0) -> None:
        """seat_belt, door_open, handbrake, clutch, brake or ignition; `bounce_ms` of contact chatter first."""
        self._world_op(lambda t: self._car().set_switch(t, switch, on, bounce_ms))

    def set_gear(self, gear: str) -> None:
        self._world_op(lambda t: self._car().set_gear(t, gear))

    def turn_signal(self, side: str, flash_hz: float = 1.5) -> None:
        """off, left, right or hazard: the lamps flash at `flash_hz` while on."""
        self._world_op(lambda t: self._car().set_turn(t, side, flash_hz))

    def set_engine_rpm(self, rpm: float) -> None:
        self._world_op(lambda t: self._car().set_engine(t, rpm))

    def take_plates(self) -> list[str]:
        with self.s.world_lock:
            self.s.advance_world()
            return self._issuer().take_plates()

    def state(self) -> dict[str, Any]:
        with self.s.world_lock:
            self.s.advance_world()
            st = self.s.world.state()
        st["kind"] = self.s.kind
        # where the world's clock started on this machine's monotonic clock, and how fast it runs: a
        # client maps a log entry's world time to its own time (the demo splits a visit's machine time out)
        st["clock"] = {"started_monotonic": self.s.world_started_monotonic, "scale": self.s.time_scale}
        st["log_entries"] = len(self.s.world.log.entries)
        st["board_id"] = self.s.board_id
        st["boots"] = self.s.boots
        st["crashes"] = self.s.crashes
        st["link_connected"] = self.s._client is not None
        st["bytes_corrupted"] = self.s.bytes_corrupted
        fw = self.s.firmware
        st["duplicates_answered_from_cache"] = fw.link.duplicates if fw else 0
        st["commands_executed"] = fw.link.commands if fw else 0
        return st

    def world_log(self, since: int = 0) -> list[dict[str, Any]]:
        return self.s.world_log(since)

    def unplug(self, seconds: float = 2.0) -> None:
        self.s.unplug(seconds)

    def power_cycle(self) -> None:
        self.s.power_cycle()

    def ping(self) -> str:
        return "pong"


def kind_code(kind: str) -> int:
    return {name: code for code, name in lb.KIND_NAMES.items()}[kind]
