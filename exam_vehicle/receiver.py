"""The RTK receiver link: a serial port (or socket://) read on its own thread, epochs handed to the unit as they complete.

The byte reader (`exam_vehicle.gnss.GnssReader`) is pure; this shell owns the
port: it opens it, reads what arrives, reopens it after a fault with a growing
pause, and says when the receiver is lost and back. Epochs are stamped with
the unit's clock by the reader as they complete.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable

import serial

from exam_vehicle.gnss import Epoch, GnssReader

log = logging.getLogger("passlane.exam.receiver")
SILENT_S = 2.0
"""A receiver that gives no epoch this long is lost (at 10 Hz that is 20 missing epochs)."""


class ReceiverLink:
    """Reads `url` until stopped; `on_epoch(epoch)` and `on_state(online, detail)` are called on its thread."""

    def __init__(
        self,
        url: str,
        baud: int,
        clock: Callable[[], float],
        on_epoch: Callable[[Epoch], None],
        on_state: Callable[[bool, str], None],
    ) -> None:
        self.url = url
        self.baud = baud
        self.reader = GnssReader(clock=clock)
        self.on_epoch = on_epoch
        self.on_state = on_state
        self.online = False
        self.epochs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gnss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _set_online(self, online: bool, detail: str) -> None:
        if online != self.online:
            self.online = online
            self.on_state(online, detail)

    def _run(self) -> None:
        pause = 0.2
        while not self._stop.is_set():
            try:
                port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0.05)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._set_online(False, f"cannot open {self.url}: {exc}")
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = 0.2
            try:
                self._read(port)
            except (serial.SerialException, OSError) as exc:
                self._set_online(False, f"{self.url}: {exc}")
            finally:
                port.close()

    def _read(self, port: serial.SerialBase) -> None:
        last = time.monotonic()
        read = _chunk_reader(port)
        while not self._stop.is_set():
            data = read()
            now = time.monotonic()
            if not data:
                if self.online and now - last > SILENT_S:
                    self._set_online(False, f"no position from {self.url} for {SILENT_S:.0f} s")
                continue
            for epoch in self.reader.feed(data):
                last = now
                self.epochs += 1
                self._set_online(True, "")
                self.on_epoch(epoch)


def _chunk_reader(port: serial.SerialBase) -> Callable[[], bytes]:
    """Whatever has arrived, at once, waiting at most 50 ms.

    A `socket://` port says one byte is waiting whenever any is (pyserial's `in_waiting` on a socket), so reading
    `in_waiting` bytes read a network receiver a byte at a time: a thread call per byte, which on a busy unit (the
    GIL shared with the loop) fell behind the receiver's own rate. A port with a file descriptor is waited on with
    select and read without blocking; others as before.
    """
    try:
        fd = port.fileno()
    except (AttributeError, OSError, NotImplementedError, ValueError):
        return lambda: port.read(port.in_waiting or 1)
    port.timeout = 0

    def read() -> bytes:
        ready, _, _ = select.select([fd], [], [], 0.05)
        return port.read(4096) if ready else b""

    return read
