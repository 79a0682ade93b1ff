"""Helpers for the lane-bus integration tests: condition waits with a
deadline, and a noisy TCP proxy that corrupts and drops bytes/frames."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition", poll: float = 0.02) -> Any:
    """Wait until cond() is truthy (cond may be async); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if isinstance(v, Awaitable):
            v = await v
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(poll)


class EventRecorder:
    def __init__(self, board: Any) -> None:
        self.events: list[Any] = []
        board.on_event(self.events.append)

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def has(self, name: str, **data: Any) -> bool:
        return any(e.name == name and all(e.data.get(k) == v for k, v in data.items()) for e in self.events)


class NoisyProxy:
    """TCP proxy between host and simulated board.  Per direction, one frame
    (bytes up to a 0x00) in every round(1/`drop`) is dropped, at a seeded
    offset, and each forwarded byte is corrupted with probability `corrupt`.
    Drops are evenly spaced rather than random so that a run of a hundred
    frames always loses some, whatever the thread timing: the tests that
    assert the recovery paths ran cannot pass or fail by luck.  `blackhole`
    swallows everything (a board that went silent)."""

    def __init__(self, upstream_port: int, corrupt: float = 0.01, drop: float = 0.01, seed: int = 1) -> None:
        self.upstream_port = upstream_port
        self.corrupt = corrupt
        self.drop = drop
        self.rng = random.Random(seed)
        self._drop_every = round(1 / drop) if drop > 0 else 0
        self._frames_seen = [0, 0]  # per direction: host to board, board to host
        self._drop_offset = [self.rng.randrange(self._drop_every) if drop > 0 else 0 for _ in range(2)]
        self.lock = threading.Lock()
        self.blackhole = False
        self.frames_dropped = 0
        self.bytes_corrupted = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._running = True
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self._running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u, 0), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, 1), daemon=True).start()

    def _mangle(self, frame: bytes, direction: int) -> bytes:
        with self.lock:
            index = self._frames_seen[direction]
            self._frames_seen[direction] += 1
            if self._drop_every and index % self._drop_every == self._drop_offset[direction]:
                self.frames_dropped += 1
                return b""
            out = bytearray(frame)
            for i in range(len(out)):
                if self.rng.random() < self.corrupt:
                    out[i] ^= self.rng.randint(1, 255)
                    self.bytes_corrupted += 1
            return bytes(out)

    def _pump(self, src: socket.socket, dst: socket.socket, direction: int) -> None:
        pending = bytearray()
        try:
            while self._running:
                data = src.recv(4096)
                if not data:
                    break
                if self.blackhole:
                    continue
                pending.extend(data)
                out = bytearray()
                while True:
                    i = pending.find(0)
                    if i < 0:
                        break
                    out += self._mangle(bytes(pending[: i + 1]), direction)
                    del pending[: i + 1]
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._running = False
        self.sock.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass


class FirmwarePort:
    """A serial port whose other end is the real I/O board firmware on a fake HAL, in this process:
    what the host writes is run by the board at once, and everything the board answered is read back
    as one chunk (with `extra` appended, when given, behind the reply it names)."""

    def __init__(self) -> None:
        import threading as _threading

        from fw_fakes import FakeHal

        from firmware.io_board import IoBoard

        self.hal = FakeHal(now=1000, inputs=16 | (16 << 8))
        self.board = IoBoard(self.hal)
        self.extra: dict[int, bytes] = {}  # reply type -> frame sent right behind it, in the same read
        self._ready = _threading.Condition()
        self._rx = bytearray()
        self.closed = False
        self.in_waiting = 0

    def write(self, data: bytes) -> int:
        from firmware import lanebus as lb

        with self._ready:
            self.hal.rx.extend(data)
            self.board.step()
            out = bytes(self.hal.tx)
            self.hal.tx = bytearray()
            for p in lb.FrameDecoder().feed(out):
                out += self.extra.get(p.mtype, b"")
            self._rx += out
            self._ready.notify_all()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        with self._ready:
            if not self._rx and not self.closed:
                self._ready.wait(0.05)
            if self.closed:
                raise OSError("port closed")
            out, self._rx = bytes(self._rx), bytearray()
            return out

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()
