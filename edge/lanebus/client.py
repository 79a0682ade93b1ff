"""asyncio host driver for one lane-bus board on any pyserial URL
(/dev/ttyACM0, /dev/ttyAMA0, socket://127.0.0.1:7001, ...).

The protocol rules (hardware_specs/lane-bus.md) in this file:
 * handshake: HELLO with our protocol version and a random session id; a
   board with another major version, or of another kind, is refused;
 * one sequence number per command; on HOST_REPLY_TIMEOUT_MS of silence the
   *same* frame is sent again (the board executes it at most once and
   answers repeats from its reply cache);
 * the board is declared offline after OFFLINE_AFTER_MS without any valid
   frame (it sends STATUS every HEARTBEAT_MS); the port is then closed and
   reopened until the board answers HELLO again (USB unplug/replug);
 * we send PING when we have sent nothing for HOST_PING_IDLE_MS, so the
   board knows its host is alive.

The serial port is read by one daemon thread (pyserial is blocking); all
state lives on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
import threading
import time
from typing import Any, AsyncIterator, Callable

import serial

from firmware import lanebus as lb

log = logging.getLogger("passlane.lanebus")


class LaneBusHostError(Exception):
    pass


class BoardOffline(LaneBusHostError):
    """The board did not answer (link down, or every retransmission lost)."""


class CommandRefused(LaneBusHostError):
    """The board answered with a refusal code (see lane-bus.md, result codes)."""

    def __init__(self, code: int, reason: str, detail: int = 0, msg_type: int = 0) -> None:
        super().__init__(f"{lb.message_name(msg_type)} refused: {reason} (code {code}, detail {detail})")
        self.code = code
        self.reason = reason
        self.detail = detail
        self.msg_type = msg_type


class WrongBoard(LaneBusHostError):
    """Handshake found another kind of board or another protocol major version."""


RESULT_NAMES = {r[0]: r[1] for r in lb.RESULTS}


@dataclasses.dataclass
class LinkStats:
    frames_tx: int = 0
    frames_rx: int = 0
    bytes_tx: int = 0
    bytes_rx: int = 0
    crc_errors: int = 0
    frame_errors: int = 0
    oversize_frames: int = 0
    retransmits: int = 0
    timeouts: int = 0
    reconnects: int = 0
    naks: int = 0
    commands: int = 0
    refusals: int = 0
    events: int = 0
    events_lost: int = 0
    rtt_ms_p50: float | None = None
    rtt_ms_p99: float | None = None
    last_rx_age_s: float | None = None
    online: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class BoardInfo:
    board_id: str
    kind: str
    firmware_version: str
    protocol_version: str
    boot_id: int


@dataclasses.dataclass(frozen=True)
class BoardEvent:
    name: str
    data: dict[str, Any]
    seq: int = 0
    board: str = ""
    t: float = 0.0


@dataclasses.dataclass(frozen=True)
class Reply:
    msg_type: int
    seq: int
    result: int
    values: list[Any] | None
    detail: int
    rtt_ms: float

    @property
    def ok(self) -> bool:
        return self.result == lb.OK

    def field(self, name: str, kind: int = lb.KIND_IO_BOARD) -> Any:
        fields = lb.reply_fields(self.msg_type & 0x7F, kind) or ()
        for i, f in enumerate(fields):
            if f[0] == name and self.values is not None:
                return self.values[i]
        raise KeyError(name)


def _percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    k = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def _s(v: Any) -> Any:
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else v


def _name(names: tuple[str, ...], i: int) -> str:
    return names[i] if 0 <= i < len(names) else f"code{i}"


def describe_event(mtype: int, vals: list[Any]) -> tuple[str, dict[str, Any]]:
    """Event name and data for a decoded board->host event."""
    if mtype == lb.EV_BARRIER:
        barrier, ev, arm, detail = vals
        d: dict[str, Any] = {"barrier": _name(lb.BARRIERS, barrier), "arm": _name(lb.ARM_NAMES, arm),
                             "detail": detail}
        if ev == lb.BEV_REFUSED:
            d["reason"] = RESULT_NAMES.get(detail, str(detail))
        if ev == lb.BEV_REVERSED:
            d["presence"] = [n for bit, n in lb.INPUT_NAMES if detail & bit]
        if ev in (lb.BEV_OPENED, lb.BEV_CLOSED):
            d["by_hand"] = detail == 1
        return "barrier_" + _name(lb.BARRIER_EVENT_NAMES, ev), d
    if mtype == lb.EV_INPUT:
        barrier, bit, state = vals
        return "presence_changed", {"barrier": _name(lb.BARRIERS, barrier),
                                    "input": dict((b, n) for b, n in lb.INPUT_NAMES).get(bit, str(bit)),
                                    "present": bool(state)}
    if mtype == lb.EV_ESTOP:
        return "estop_changed", {"pressed": bool(vals[0])}
    if mtype == lb.EV_HOST_LINK:
        return "host_link", {"up": bool(vals[0])}
    if mtype in (lb.EV_JOB_PROGRESS, lb.EV_JOB_DONE):
        job_id, ptype, state, done, fault = vals
        return ("job_done" if mtype == lb.EV_JOB_DONE else "job_progress"), {
            "job_id": _s(job_id), "plate_type": _name(lb.PLATE_TYPES, ptype),
            "state": _name(lb.JOB_STATE_NAMES, state), "plates_done": done,
            "fault": _name(lb.FAULT_NAMES, fault)}
    if mtype == lb.EV_FAULT:
        fault, state, job_id = vals
        return "fault", {"fault": _name(lb.FAULT_NAMES, fault), "raised": bool(state), "job_id": _s(job_id)}
    return lb.message_name(mtype).lower(), {"values": [_s(v) for v in vals]}


class BoardClient:
    def __init__(self, url: str, *, expected_kind: str, name: str = "",
                 reply_timeout_s: float = lb.HOST_REPLY_TIMEOUT_MS / 1000,
                 max_attempts: int = lb.HOST_MAX_ATTEMPTS,
                 offline_after_s: float = lb.OFFLINE_AFTER_MS / 1000,
                 ping_idle_s: float = lb.HOST_PING_IDLE_MS / 1000,
                 reopen_interval_s: float = 0.5,
                 command_timeout_s: float = 15.0,
                 baudrate: int = 115200) -> None:
        if expected_kind not in lb.KIND_NAMES.values():
            raise ValueError(f"expected_kind must be one of {sorted(lb.KIND_NAMES.values())}")
        self.url = url
        self.expected_kind = expected_kind
        self.name = name or url
        self.reply_timeout_s = reply_timeout_s
        self.max_attempts = max_attempts
        self.offline_after_s = offline_after_s
        self.ping_idle_s = ping_idle_s
        self.reopen_interval_s = reopen_interval_s
        self.command_timeout_s = command_timeout_s
        self.baudrate = baudrate
        self.info: BoardInfo | None = None
        self.last_status: list[Any] | None = None
        self._stats = LinkStats()
        self._rtts: collections.deque[float] = collections.deque(maxlen=2000)
        self._session = random.getrandbits(32)
        self._seq = random.randint(1, 0xFFFF)
        self._decoder = lb.FrameDecoder()
        self._pending: dict[int, tuple[int, asyncio.Future[Reply], float]] = {}
        self._ser: Any = None
        self._reader: threading.Thread | None = None
        self._gen = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._cmd_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._ev_expected: int | None = None
        self._ev_gap_since: float | None = None
        self._rehello_pending = False
        self._subscribers: list[asyncio.Queue[BoardEvent]] = []
        self._callbacks: list[Callable[[BoardEvent], Any]] = []
        self._link_lost = asyncio.Event()

    # ---------------------------------------------------------------- public
    @property
    def online(self) -> bool:
        return self._ready.is_set()

    @property
    def kind_code(self) -> int:
        return lb.KIND_IO_BOARD if self.expected_kind == "io-board" else lb.KIND_PLATE_ISSUER

    @property
    def stats(self) -> LinkStats:
        s = dataclasses.replace(self._stats)
        d = self._decoder
        s.crc_errors, s.frame_errors, s.oversize_frames = d.crc_errors, d.frame_errors, d.oversize
        rtts = sorted(self._rtts)
        if rtts:
            s.rtt_ms_p50 = round(_percentile(rtts, 0.5), 3)
            s.rtt_ms_p99 = round(_percentile(rtts, 0.99), 3)
        s.last_rx_age_s = round(time.monotonic() - self._last_rx, 3) if self._last_rx else None
        s.online = self.online
        return s

    async def start(self, timeout_s: float = 5.0) -> None:
        """Open the port and handshake; keeps reconnecting in the background.
        Raises BoardOffline if the first handshake does not succeed in time,
        WrongBoard if the board is of another kind or protocol major."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._wrong: Exception | None = None
        self._tasks = [asyncio.create_task(self._supervise(), name=f"lanebus-{self.name}-link"),
                       asyncio.create_task(self._watchdog(), name=f"lanebus-{self.name}-watchdog")]
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except asyncio.TimeoutError:
            err = self._wrong
            await self.close()
            if err:
                raise err
            raise BoardOffline(f"{self.name}: no handshake within {timeout_s} s") from None

    async def close(self) -> None:
        self._closing = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        self._drop_port()
        self._ready.clear()
        for _, fut, _ in self._pending.values():
            if not fut.done():
                fut.set_exception(BoardOffline(f"{self.name}: client closed"))
        self._pending.clear()

    async def __aenter__(self) -> "BoardClient":
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

    async def command(self, msg_type: int, body: bytes | list[Any] | tuple[Any, ...] = b"", *,
                      raise_on_refusal: bool = True, timeout_s: float | None = None) -> Reply:
        """Send one command and wait for its reply, retransmitting the same
        frame on silence.  Raises CommandRefused (board said no),
        BoardOffline (no answer in time)."""
        if not isinstance(body, (bytes, bytearray)):
            fields = lb.request_fields(msg_type, self.kind_code)
            if fields is None:
                raise ValueError(f"unknown message type {msg_type:#x}")
            body = lb.pack_fields(fields, list(body))
        async with self._cmd_lock:
            seq = self._next_seq()
            reply = await self._transact(seq, msg_type, bytes(body), timeout_s or self.command_timeout_s,
                                         wait_ready=True)
        self._stats.commands += 1
        if not reply.ok:
            self._stats.refusals += 1
            if raise_on_refusal:
                raise CommandRefused(reply.result, RESULT_NAMES.get(reply.result, "?"), reply.detail, msg_type)
        return reply

    # ---------------------------------------------------------------- internals
    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1
        return self._seq

    async def _transact(self, seq: int, msg_type: int, body: bytes, timeout_s: float,
                        wait_ready: bool) -> Reply:
        assert self._loop is not None
        frame = lb.encode_frame(seq, msg_type, body)
        deadline = time.monotonic() + timeout_s
        fut: asyncio.Future[Reply] = self._loop.create_future()
        t_first = time.monotonic()
        self._pending[seq] = (msg_type, fut, t_first)
        sends = 0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if wait_ready and not self._ready.is_set():
                    ready = asyncio.ensure_future(self._ready.wait())
                    try:
                        if not await _finished_within(ready, left):
                            break
                    finally:
                        ready.cancel()
                    continue
                if sends >= self.max_attempts:
                    break
                if not self._write(frame):
                    await asyncio.sleep(min(0.05, max(left, 0)))
                    continue
                if sends:
                    self._stats.retransmits += 1
                sends += 1
                if await _finished_within(fut, min(self.reply_timeout_s, max(left, 0.001))):
                    return fut.result()
                self._stats.timeouts += 1
            raise BoardOffline(f"{self.name}: no reply to {lb.message_name(msg_type)} seq {seq} "
                               f"after {sends} sends")
        finally:
            self._pending.pop(seq, None)
            if not fut.done():
                fut.cancel()

    def _write(self, frame: bytes) -> bool:
        ser = self._ser
        if ser is None:
            return False
        try:
            ser.write(frame)
        except (serial.SerialException, OSError) as e:
            self._on_link_lost(self._gen, e)
            return False
        self._stats.frames_tx += 1
        self._stats.bytes_tx += len(frame)
        self._last_tx = time.monotonic()
        return True

    def _drop_port(self) -> None:
        self._gen += 1
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass

    def _reader_thread(self, ser: Any, gen: int) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            try:
                data = ser.read(max(1, ser.in_waiting))
            except Exception as e:  # unplugged, closed, socket dropped
                if not self._closing:
                    try:
                        loop.call_soon_threadsafe(self._on_link_lost, gen, e)
                    except RuntimeError:  # the event loop is already closed
                        pass
                return
            if gen != self._gen:
                return
            if data:
                try:
                    loop.call_soon_threadsafe(self._on_bytes, gen, data)
                except RuntimeError:
                    return

    def _on_link_lost(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        log.info("%s: link lost: %s", self.name, exc)
        self._drop_port()
        self._set_offline("link lost: %s" % exc)

    def _set_offline(self, why: str) -> None:
        was = self._ready.is_set()
        self._ready.clear()
        self._link_lost.set()
        if was:
            self._emit(BoardEvent("offline", {"reason": why}, board=self.name, t=time.time()))

    def _on_bytes(self, gen: int, data: bytes) -> None:
        if gen != self._gen:
            return
        self._stats.bytes_rx += len(data)
        for pkt in self._decoder.feed(data):
            self._stats.frames_rx += 1
            self._last_rx = time.monotonic()
            self._on_packet(pkt)

    def _on_packet(self, pkt: lb.Packet) -> None:
        mtype = pkt.mtype
        body = bytes(pkt.body)
        if mtype == lb.NAK:
            self._stats.naks += 1
            code = body[0] if body else 0
            detail = body[1] if len(body) > 1 else 0
            self._resolve(pkt.seq, None, code, None, detail)
            return
        if mtype & lb.REPLY_FLAG:
            cmd = mtype & 0x7F
            if not body:
                return
            result = body[0]
            values = None
            detail = 0
            if result == lb.OK:
                fields = lb.reply_fields(cmd, self.kind_code)
                try:
                    values = lb.unpack_fields(fields, body, 1) if fields else []
                except lb.FieldError:
                    return  # CRC-valid but malformed: treat as lost, we will retransmit
            elif len(body) > 1:
                detail = body[1]
            if cmd == lb.HELLO and values and pkt.seq in self._pending:
                self._sync_events(values[6], values[7])
            self._resolve(pkt.seq, cmd, result, values, detail)
            return
        fields = lb.request_fields(mtype, self.kind_code)
        if fields is None:
            return
        try:
            vals = lb.unpack_fields(fields, body)
        except lb.FieldError:
            return
        if mtype != lb.EV_STATUS and not self._accept_event(pkt.seq):
            return
        if mtype == lb.EV_STATUS:
            self.last_status = vals
        name, data = describe_event(mtype, vals)
        if mtype == lb.EV_STATUS:
            data = {f[0]: _s(v) for f, v in zip(fields, vals)}
        self._stats.events += 1
        self._emit(BoardEvent(name, data, pkt.seq, self.name, time.time()))

    def _sync_events(self, boot_id: int, event_seq: int) -> None:
        """HELLO reply, handled in wire order: event_seq is the oldest event
        the board still holds for us (or its next seq)."""
        if self.info is None or self.info.boot_id != boot_id or self._ev_expected is None:
            self._ev_expected = event_seq
        elif lb.seq_diff(event_seq, self._ev_expected) > 0:
            # the board dropped events while we were away (window overflow)
            self._stats.events_lost += lb.seq_diff(event_seq, self._ev_expected)
            self._ev_expected = event_seq
        self._ev_gap_since = None

    def _accept_event(self, seq: int) -> bool:
        """In-order delivery of the board's reliable events (go-back-N with
        cumulative EVENT_ACK, lane-bus.md section 3).  True = deliver now."""
        if self._rehello_pending:
            return False  # never acknowledge to a board we have not re-synchronised with
        expected = self._ev_expected
        if seq == 1 and expected not in (None, 1) and self._ready.is_set():
            # the board's event counter restarted: it reset without the link
            # dropping (UART, watchdog); handshake again (boot_id, event_seq)
            if not self._rehello_pending:
                self._rehello_pending = True
                self._tasks.append(asyncio.ensure_future(self._rehello()))
            return False
        if expected is None:
            expected = seq
        d = lb.seq_diff(seq, expected)
        if d < 0:  # a repeat of an event we already delivered
            self._ack_event(expected - 1 if expected > 1 else 0xFFFF)
            return False
        if d > 0:  # an earlier event is missing: wait for the board to resend it
            now = time.monotonic()
            if self._ev_gap_since is None:
                self._ev_gap_since = now
            if now - self._ev_gap_since < lb.EVENT_GIVE_UP_MS / 1000:
                self._ev_expected = expected
                self._ack_event(expected - 1 if expected > 1 else 0xFFFF)
                return False
            self._stats.events_lost += d  # the board dropped them (window overflow)
        self._ev_gap_since = None
        self._ev_expected = lb.seq_next(seq)
        self._ack_event(seq)
        return True

    def _ack_event(self, seq: int) -> None:
        self._write(lb.encode_frame(self._next_seq(), lb.EVENT_ACK, bytes([seq >> 8, seq & 0xFF])))

    def _resolve(self, seq: int, cmd: int | None, result: int, values: list[Any] | None, detail: int) -> None:
        entry = self._pending.get(seq)
        if entry is None:
            return
        msg_type, fut, t0 = entry
        if cmd is not None and cmd != msg_type:
            return
        if fut.done():
            return
        rtt = (time.monotonic() - t0) * 1000
        self._rtts.append(rtt)
        fut.set_result(Reply(msg_type | lb.REPLY_FLAG, seq, result, values, detail, rtt))

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

    # ---------------------------------------------------------------- link supervision
    def _open(self) -> Any:
        ser = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.05, write_timeout=2)
        return ser

    async def _supervise(self) -> None:
        assert self._loop is not None
        first = True
        while not self._closing:
            if self._ser is None:
                try:
                    ser = await self._loop.run_in_executor(None, self._open)
                except Exception as e:
                    log.debug("%s: open failed: %s", self.name, e)
                    await asyncio.sleep(self.reopen_interval_s)
                    continue
                self._gen += 1
                self._ser = ser
                self._decoder = _carry_counts(self._decoder)
                self._reader = threading.Thread(target=self._reader_thread, args=(ser, self._gen),
                                                daemon=True, name=f"lanebus-{self.name}-rx")
                self._reader.start()
                try:
                    await self._handshake()
                except WrongBoard as e:
                    self._wrong = e
                    log.error("%s: %s", self.name, e)
                    self._drop_port()
                    await asyncio.sleep(self.reopen_interval_s)
                    continue
                except BoardOffline:
                    self._drop_port()
                    await asyncio.sleep(self.reopen_interval_s)
                    continue
                if not first:
                    self._stats.reconnects += 1
                first = False
                self._last_rx = time.monotonic()
                self._link_lost.clear()
                self._ready.set()
                self._emit(BoardEvent("online", {"board_id": self.info.board_id if self.info else ""},
                                      board=self.name, t=time.time()))
            await self._link_lost.wait()
            self._link_lost.clear()

    async def _handshake(self) -> None:
        body = lb.pack_fields(lb.request_fields(lb.HELLO), [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, self._session])
        reply = await self._transact(self._next_seq(), lb.HELLO, body, 2.0, wait_ready=False)
        if reply.result == lb.E_BAD_VERSION:
            raise WrongBoard(f"{self.name}: board speaks protocol major {reply.detail}, "
                             f"we speak {lb.PROTOCOL_MAJOR}")
        if not reply.ok or reply.values is None:
            raise WrongBoard(f"{self.name}: HELLO refused: {RESULT_NAMES.get(reply.result, reply.result)}")
        kind, pmaj, pmin, fmaj, fmin, fpat, boot_id, event_seq, board_id = reply.values
        kind_name = lb.KIND_NAMES.get(kind, f"kind{kind}")
        if pmaj != lb.PROTOCOL_MAJOR:
            raise WrongBoard(f"{self.name}: board protocol {pmaj}.{pmin}, host {lb.PROTOCOL_MAJOR}")
        if kind_name != self.expected_kind:
            raise WrongBoard(f"{self.name}: expected a {self.expected_kind}, found a {kind_name}")
        old = self.info
        self.info = BoardInfo(_s(board_id), kind_name, f"{fmaj}.{fmin}.{fpat}", f"{pmaj}.{pmin}", boot_id)
        if old is not None and old.boot_id != boot_id:
            self._emit(BoardEvent("board_reset", {"board_id": self.info.board_id}, board=self.name,
                                  t=time.time()))

    async def _rehello(self) -> None:
        try:
            await self._handshake()
        except (BoardOffline, WrongBoard) as e:
            log.warning("%s: handshake after board reset failed: %s", self.name, e)
        finally:
            self._rehello_pending = False

    async def _watchdog(self) -> None:
        ping = lb.pack_fields((), [])
        while not self._closing:
            await asyncio.sleep(0.1)
            if not self._ready.is_set():
                continue
            now = time.monotonic()
            if now - self._last_rx > self.offline_after_s:
                log.warning("%s: silent for %.1f s: offline", self.name, now - self._last_rx)
                self._drop_port()
                self._set_offline(f"no frame for {self.offline_after_s} s")
                continue
            if now - self._last_tx > self.ping_idle_s:
                # fire and forget: the reply (or the STATUS heartbeat) proves the link
                self._write(lb.encode_frame(self._next_seq(), lb.PING, ping))


async def _finished_within(future: asyncio.Future[Any], timeout_s: float) -> bool:
    """Whether `future` finished within `timeout_s` (it is left as it is when not). Unlike
    asyncio.wait_for on Python 3.11, a cancellation of the caller that comes just as
    `future` finishes is raised, not dropped: a lane stopping its status poll relies on it."""
    done, _ = await asyncio.wait({future}, timeout=timeout_s)
    return bool(done)


def _carry_counts(old: lb.FrameDecoder) -> lb.FrameDecoder:
    d = lb.FrameDecoder()
    d.crc_errors, d.frame_errors, d.oversize, d.frames = old.crc_errors, old.frame_errors, old.oversize, old.frames
    return d
