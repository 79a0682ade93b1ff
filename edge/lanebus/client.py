"""asyncio + pyserial shell around :class:`~edge.lanebus.session.BoardSession`, for one lane-bus board
on any pyserial URL (/dev/ttyACM0, /dev/ttyAMA0, socket://127.0.0.1:7001, ...).

The protocol lives in the pure session; this file only moves bytes and time:
a reader thread (pyserial is blocking) hands what it read to the event loop,
which feeds the session, writes what it says, resolves the callers' futures,
delivers events, and sleeps until the session's next deadline or new bytes.
One driver task owns the port (open, reopen after a loss); it is cancelled
and awaited on close, and the reader thread is joined.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import serial

from firmware import lanebus as lb

from .session import (
    RESULT_NAMES,
    BoardEvent,
    BoardInfo,
    BoardOffline,
    BoardSession,
    ClosePort,
    CommandAnswered,
    CommandFailed,
    CommandRefused,
    EventDelivered,
    LaneBusHostError,
    LinkStats,
    Reply,
    SessionSettings,
    WrongBoard,
    describe_event,
)

__all__ = [
    "BoardClient",
    "BoardEvent",
    "BoardInfo",
    "BoardOffline",
    "CommandRefused",
    "LaneBusHostError",
    "LinkStats",
    "Reply",
    "SerialPort",
    "WrongBoard",
    "describe_event",
]

log = logging.getLogger("passlane.lanebus")


class SerialPort(Protocol):
    """What the shell needs of a pyserial port (read with a short timeout)."""

    in_waiting: int

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...


class BoardClient:
    """One board's link: `start()`, `command()`, events (`on_event`, `events()`), `close()`."""

    def __init__(
        self,
        url: str,
        *,
        expected_kind: str,
        name: str = "",
        reply_timeout_s: float = lb.HOST_REPLY_TIMEOUT_MS / 1000,
        max_attempts: int = lb.HOST_MAX_ATTEMPTS,
        offline_after_s: float = lb.OFFLINE_AFTER_MS / 1000,
        ping_idle_s: float = lb.HOST_PING_IDLE_MS / 1000,
        reopen_interval_s: float = 0.5,
        command_timeout_s: float = 15.0,
        baudrate: int = 115200,
        open_port: Callable[[], SerialPort] | None = None,
    ) -> None:
        """open_port: opens the port (default: pyserial's serial_for_url on `url`); a test may hand in its own."""
        self.url = url
        self.expected_kind = expected_kind
        self.name = name or url
        self.reopen_interval_s = reopen_interval_s
        self.command_timeout_s = command_timeout_s
        self.baudrate = baudrate
        self._open_port = open_port or self._open_serial
        settings = SessionSettings(
            reply_timeout_s=reply_timeout_s,
            max_attempts=max_attempts,
            offline_after_s=offline_after_s,
            ping_idle_s=ping_idle_s,
        )
        self._session = BoardSession(
            expected_kind,
            session_id=random.getrandbits(32),
            first_seq=random.randint(1, 0xFFFF),
            name=self.name,
            settings=settings,
        )
        self._port: SerialPort | None = None
        self._gen = 0
        self._readers: list[threading.Thread] = []  # the current port's, and any still finishing
        self._driver: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None  # the driver sleeps on it until the next deadline
        self._online = asyncio.Event()
        self._reopen_at = 0.0
        self._waiters: dict[int, asyncio.Future[Reply]] = {}
        self._subscribers: list[asyncio.Queue[BoardEvent]] = []
        self._callbacks: list[Callable[[BoardEvent], Any]] = []

    # ---------------------------------------------------------------- public
    @property
    def online(self) -> bool:
        return self._session.online

    @property
    def info(self) -> BoardInfo | None:
        return self._session.info

    @property
    def last_status(self) -> list[Any] | None:
        return self._session.last_status

    @property
    def kind_code(self) -> int:
        return self._session.kind_code

    @property
    def stats(self) -> LinkStats:
        return self._session.stats(time.monotonic())

    async def start(self, timeout_s: float = 5.0) -> None:
        """Open the port and handshake; keeps reconnecting until closed.
        Raises BoardOffline if the first handshake does not succeed in time,
        WrongBoard if the board is of another kind or protocol major."""
        self._driver = asyncio.create_task(self._drive(), name=f"lanebus-{self.name}")
        try:
            await asyncio.wait_for(self._online.wait(), timeout_s)
        except TimeoutError:
            err = self._session.handshake_error
            await self.close()
            if err:
                raise err from None
            raise BoardOffline(f"{self.name}: no handshake within {timeout_s} s") from None

    async def close(self) -> None:
        """Stop the driver (awaited), close the port, join the reader; waiting commands fail."""
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
            self._driver = None
        self._drop_port()
        readers, self._readers = self._readers, []
        for reader in readers:
            await asyncio.to_thread(reader.join, 2.0)
        self._session.close(time.monotonic())
        self._dispatch()

    async def __aenter__(self) -> BoardClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def on_event(self, callback: Callable[[BoardEvent], Any]) -> Callable[[], None]:
        """Call `callback(event)` on the event loop for every event; returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def events(self, maxsize: int = 1000) -> AsyncIterator[BoardEvent]:
        """Async iterator over events from now on (status heartbeats included)."""
        q: asyncio.Queue[BoardEvent] = asyncio.Queue(maxsize)
        self._subscribers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.remove(q)

    async def command(
        self,
        msg_type: int,
        body: bytes | list[Any] | tuple[Any, ...] = b"",
        *,
        raise_on_refusal: bool = True,
        timeout_s: float | None = None,
    ) -> Reply:
        """Send one command and wait for its reply (the session resends the same frame on silence).
        Raises CommandRefused (board said no), BoardOffline (no answer in time)."""
        if not isinstance(body, (bytes, bytearray)):
            fields = lb.request_fields(msg_type, self.kind_code)
            if fields is None:
                raise ValueError(f"unknown message type {msg_type:#x}")
            body = lb.pack_fields(fields, list(body))
        if self._driver is None or self._driver.done():
            raise BoardOffline(f"{self.name}: not started")
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        ticket = self._session.command(msg_type, bytes(body), time.monotonic(), timeout_s or self.command_timeout_s)
        self._waiters[ticket] = fut
        self._pump()
        try:
            reply = await fut  # a cancellation that comes as the reply lands is raised, not dropped
        finally:
            if self._waiters.pop(ticket, None) is not None:
                self._session.cancel(ticket, time.monotonic())
                self._pump()
        if not reply.ok and raise_on_refusal:
            raise CommandRefused(reply.result, RESULT_NAMES.get(reply.result, "?"), reply.detail, msg_type)
        return reply

    # ---------------------------------------------------------------- the shell
    def _open_serial(self) -> SerialPort:
        port: SerialPort = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.05, write_timeout=2)
        sock = getattr(port, "_socket", None)  # a socket:// port: a simulated board or a serial device server
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            # A UART sends each byte as it comes. TCP (Nagle) holds a small frame back until the previous
            # one is acknowledged, and the far end delays that acknowledgement by up to 40 ms: a command
            # written just after an EVENT_ACK reached the board 40 ms late (a job status read while the
            # issuer was printing took 40 ms instead of under 1 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return port

    async def _drive(self) -> None:
        """Own the port and the session's timers until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            now = time.monotonic()
            if self._port is None and now >= self._reopen_at:
                try:
                    port = await loop.run_in_executor(None, self._open_port)
                except Exception as e:  # noqa: BLE001 - not there yet (unplugged, sim not started): try again
                    log.debug("%s: open failed: %s", self.name, e)
                    self._reopen_at = time.monotonic() + self.reopen_interval_s
                    continue
                self._attach(port)
                continue
            self._session.tick(now)
            self._pump()
            deadline = self._session.next_deadline()
            if self._port is None:
                deadline = self._reopen_at if deadline is None else min(deadline, self._reopen_at)
            await self._sleep_until(deadline)

    async def _sleep_until(self, deadline: float | None) -> None:
        """Until `deadline` (monotonic s; None: no timer) or a wake-up: new bytes, a command, a cancellation."""
        loop = asyncio.get_running_loop()
        self._wakeup = wakeup = loop.create_future()
        timer = None
        if deadline is not None:
            timer = loop.call_later(max(0.0, deadline - time.monotonic()), self._wake)
        try:
            await wakeup
        finally:
            self._wakeup = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _attach(self, port: SerialPort) -> None:
        self._gen += 1
        self._port = port
        reader = threading.Thread(
            target=self._read_port,
            args=(port, self._gen, asyncio.get_running_loop()),
            daemon=True,
            name=f"lanebus-{self.name}-rx",
        )
        # a reader of an earlier port returns by itself (its port is closed, its generation over)
        self._readers = [r for r in self._readers if r.is_alive()] + [reader]
        reader.start()
        self._session.port_opened(time.monotonic())
        self._pump()

    def _read_port(self, port: SerialPort, gen: int, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: hand every chunk to the event loop; stop when the port fails or is replaced."""
        while gen == self._gen:
            data = b""
            try:
                data = port.read(max(1, port.in_waiting))
                while data and port.in_waiting:
                    # a socket:// port says only "one byte or more" is waiting: gather what has come here,
                    # so that the event loop is woken once for a frame and not once per byte
                    data += port.read(port.in_waiting)
            except Exception as e:  # noqa: BLE001 - unplugged, closed, socket dropped
                if data:  # what came before the line went
                    self._call_soon(loop, self._received, gen, data)
                self._call_soon(loop, self._port_failed, gen, e)
                return
            if data:
                self._call_soon(loop, self._received, gen, data)

    @staticmethod
    def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the event loop is already closed
            pass

    def _received(self, gen: int, data: bytes) -> None:
        if gen == self._gen:
            self._session.receive(data, time.monotonic())
            self._pump()

    def _port_failed(self, gen: int, exc: BaseException) -> None:
        if gen == self._gen:
            self._session.port_failed(time.monotonic(), f"link lost: {exc}")
            self._pump()

    def _drop_port(self) -> None:
        """Forget the port at once and close it off the event loop: pyserial's socket:// close sleeps 0.3 s."""
        self._gen += 1
        port, self._port = self._port, None
        if port is not None:
            threading.Thread(target=_close_quietly, args=(port,), name="lanebus-close", daemon=True).start()

    def _pump(self) -> None:
        """Write what the session wants written, act on its outputs, and let the driver re-plan."""
        while True:
            data = self._session.data_to_send()
            if data and self._port is not None:
                try:
                    self._port.write(data)
                except (serial.SerialException, OSError) as e:
                    self._session.port_failed(time.monotonic(), f"link lost: {e}")
            if not self._dispatch():
                break
        self._wake()

    def _dispatch(self) -> bool:
        outputs = self._session.outputs()
        for out in outputs:
            if isinstance(out, (CommandAnswered, CommandFailed)):
                fut = self._waiters.pop(out.ticket, None)
                if fut is not None and not fut.done():
                    if isinstance(out, CommandAnswered):
                        fut.set_result(out.reply)
                    else:
                        fut.set_exception(out.error)
            elif isinstance(out, EventDelivered):
                self._emit(dataclasses.replace(out.event, t=time.time()))
            elif isinstance(out, ClosePort):
                self._drop_port()
                self._reopen_at = time.monotonic() + (self.reopen_interval_s if out.retry_later else 0.0)
        if self._session.online:
            self._online.set()
        else:
            self._online.clear()
        return bool(outputs)

    def _emit(self, ev: BoardEvent) -> None:
        for q in list(self._subscribers):
            try:
                q.put_nowait(ev)
            except asyncio.QueueFull:
                pass
        for cb in list(self._callbacks):
            try:
                cb(ev)
            except Exception:
                log.exception("%s: event callback failed", self.name)


def _close_quietly(port: Any) -> None:
    try:
        port.close()
    except Exception:  # noqa: BLE001 - closing a port that already failed
        pass
