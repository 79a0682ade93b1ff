"""The host side of one lane-bus link, sans I/O (as python-hyper/h11 is for HTTP).

:class:`BoardSession` never touches a port or a clock: the shell
(:class:`edge.lanebus.client.BoardClient`, asyncio + pyserial) tells it that
the port opened or failed, hands it the bytes it read and the time `now`
(seconds, any monotonic origin), and asks it for

* the bytes to write (:meth:`BoardSession.data_to_send`),
* what happened (:meth:`BoardSession.outputs`): a command answered or given
  up, a board event to deliver, the port to close,
* when to call it again (:meth:`BoardSession.next_deadline`) for resends,
  timeouts, pings and the offline check.

The protocol rules it keeps (hardware_specs/lane-bus.md, sections 3 and 8):
handshake (HELLO with our major and session id; a board of another major or
kind is refused), one new seq per command, the *identical* frame resent after
HOST_REPLY_TIMEOUT_MS of silence up to HOST_MAX_ATTEMPTS sends, one command in
flight at a time (a command issued while the link is down waits for it),
in-order delivery of the board's reliable events with cumulative EVENT_ACK,
HELLO's `event_seq` applied in wire order, a new HELLO when the board's event
counter restarts, PING when idle, offline after OFFLINE_AFTER_MS of silence.
The same code runs under hypothesis with lost, repeated and reordered frames.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any

from edge.stats import percentile
from firmware import lanebus as lb

log = logging.getLogger("passlane.lanebus")

RESULT_NAMES = {r[0]: r[1] for r in lb.RESULTS}
KIND_CODES = {name: code for code, name in lb.KIND_NAMES.items()}
HANDSHAKE_TIMEOUT_S = 2.0


class LaneBusHostError(Exception):
    """Anything the host side of the lane bus reports to its caller."""


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
    """A board event (or the link's own: online, offline, board_reset); `t` is wall time, set by the shell."""

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


# ---------------------------------------------------------------- outputs
@dataclasses.dataclass(frozen=True)
class CommandAnswered:
    """The board answered command `ticket` (OK or a refusal: see `reply.result`)."""

    ticket: int
    reply: Reply


@dataclasses.dataclass(frozen=True)
class CommandFailed:
    """Command `ticket` got no answer in time (or the session closed)."""

    ticket: int
    error: LaneBusHostError


@dataclasses.dataclass(frozen=True)
class EventDelivered:
    """Deliver `event` to the subscribers: each board event exactly once, in the board's order."""

    event: BoardEvent


@dataclasses.dataclass(frozen=True)
class ClosePort:
    """Close the port and open it again: at once after a lost link, after the reopen interval when
    the handshake failed (`retry_later`)."""

    reason: str
    retry_later: bool


Output = CommandAnswered | CommandFailed | EventDelivered | ClosePort


# ---------------------------------------------------------------- decoding helpers
def as_text(v: Any) -> Any:
    """A str field (bytes on the wire) as text; other values unchanged."""
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else v


def enum_name(names: tuple[str, ...], i: int) -> str:
    return names[i] if 0 <= i < len(names) else f"code{i}"


def describe_event(mtype: int, vals: list[Any]) -> tuple[str, dict[str, Any]]:
    """Event name and data for a decoded board->host event."""
    if mtype == lb.EV_BARRIER:
        barrier, ev, arm, detail = vals
        d: dict[str, Any] = {
            "barrier": enum_name(lb.BARRIERS, barrier),
            "arm": enum_name(lb.ARM_NAMES, arm),
            "detail": detail,
        }
        if ev == lb.BEV_REFUSED:
            d["reason"] = RESULT_NAMES.get(detail, str(detail))
        if ev == lb.BEV_REVERSED:
            d["presence"] = [n for bit, n in lb.INPUT_NAMES if detail & bit]
        if ev in (lb.BEV_OPENED, lb.BEV_CLOSED):
            d["by_hand"] = detail == 1
        return "barrier_" + enum_name(lb.BARRIER_EVENT_NAMES, ev), d
    if mtype == lb.EV_INPUT:
        barrier, bit, state = vals
        return "presence_changed", {
            "barrier": enum_name(lb.BARRIERS, barrier),
            "input": dict(lb.INPUT_NAMES).get(bit, str(bit)),
            "present": bool(state),
        }
    if mtype == lb.EV_ESTOP:
        return "estop_changed", {"pressed": bool(vals[0])}
    if mtype == lb.EV_HOST_LINK:
        return "host_link", {"up": bool(vals[0])}
    if mtype in (lb.EV_JOB_PROGRESS, lb.EV_JOB_DONE):
        job_id, ptype, state, done, fault = vals
        return ("job_done" if mtype == lb.EV_JOB_DONE else "job_progress"), {
            "job_id": as_text(job_id),
            "plate_type": enum_name(lb.PLATE_TYPES, ptype),
            "state": enum_name(lb.JOB_STATE_NAMES, state),
            "plates_done": done,
            "fault": enum_name(lb.FAULT_NAMES, fault),
        }
    if mtype == lb.EV_FAULT:
        fault, state, job_id = vals
        return "fault", {"fault": enum_name(lb.FAULT_NAMES, fault), "raised": bool(state), "job_id": as_text(job_id)}
    if mtype == lb.EV_SIGNAL:
        signal, value = vals
        return "signal_changed", {
            "signal": enum_name(lb.VEHICLE_SIGNAL_NAMES, signal),
            "value": signal_value(signal, value),
        }
    return lb.message_name(mtype).lower(), {"values": [as_text(v) for v in vals]}


def signal_value(signal: int, value: int) -> bool | int:
    """A vehicle signal's value as the car means it: engine speed in rpm, every other signal on/off."""
    return value if signal == lb.SIG_ENGINE_RPM else bool(value)


def parse_reply(pkt: lb.Packet, kind: int) -> tuple[int | None, int, list[Any] | None, int] | None:
    """(command type or None for a NAK, result, reply values if OK, detail), or None if malformed
    (CRC-valid but not the type's layout: treated as lost, the resend repairs it)."""
    body = bytes(pkt.body)
    if pkt.mtype == lb.NAK:
        return None, body[0] if body else 0, None, body[1] if len(body) > 1 else 0
    if not body:
        return None
    cmd = pkt.mtype & 0x7F
    if body[0] != lb.OK:
        return cmd, body[0], None, body[1] if len(body) > 1 else 0
    fields = lb.reply_fields(cmd, kind)
    try:
        return cmd, lb.OK, lb.unpack_fields(fields, body, 1) if fields else [], 0
    except lb.FieldError:
        return None


def hello_refusal(
    name: str, expected_kind: str, result: int, values: list[Any] | None, detail: int
) -> WrongBoard | None:
    """Why the host refuses the board that gave this HELLO reply (lane-bus.md section 8), or None."""
    if result == lb.E_BAD_VERSION:
        return WrongBoard(f"{name}: board speaks protocol major {detail}, we speak {lb.PROTOCOL_MAJOR}")
    if result != lb.OK or values is None:
        return WrongBoard(f"{name}: HELLO refused: {RESULT_NAMES.get(result, result)}")
    kind, pmaj, pmin = values[0], values[1], values[2]
    kind_name = lb.KIND_NAMES.get(kind, f"kind{kind}")
    if pmaj != lb.PROTOCOL_MAJOR:
        return WrongBoard(f"{name}: board protocol {pmaj}.{pmin}, host {lb.PROTOCOL_MAJOR}")
    if kind_name != expected_kind:
        return WrongBoard(f"{name}: expected a {expected_kind}, found a {kind_name}")
    return None


def _seq_before(seq: int) -> int:
    return seq - 1 if seq > 1 else 0xFFFF


class EventOrder:
    """In-order delivery of the board's reliable events (go-back-N with cumulative EVENT_ACK,
    lane-bus.md section 3): which event to deliver, and what to acknowledge."""

    def __init__(self) -> None:
        self.expected: int | None = None  # the next seq to deliver
        self.gap_since: float | None = None
        self.lost = 0

    def resync(self, same_boot: bool, event_seq: int) -> None:
        """HELLO reply, in wire order: `event_seq` is the oldest event the board still holds for us."""
        if not same_boot or self.expected is None:
            self.expected = event_seq
        elif lb.seq_diff(event_seq, self.expected) > 0:
            self.lost += lb.seq_diff(event_seq, self.expected)  # the board's window overflowed while we were away
            self.expected = event_seq
        self.gap_since = None

    def restarted(self, seq: int) -> bool:
        """Event seq 1 after others: the board reset without the link dropping."""
        return seq == 1 and self.expected not in (None, 1)

    def accept(self, seq: int, now: float) -> tuple[bool, int]:
        """(deliver this event now?, the seq to acknowledge)."""
        expected = seq if self.expected is None else self.expected
        d = lb.seq_diff(seq, expected)
        if d < 0:  # a repeat of an event already delivered
            return False, _seq_before(expected)
        if d > 0:  # an earlier event is missing: wait for the board to send it again
            if self.gap_since is None:
                self.gap_since = now
            if now - self.gap_since < lb.EVENT_GIVE_UP_MS / 1000:
                self.expected = expected
                return False, _seq_before(expected)
            self.lost += d  # the board dropped them (window overflow)
        self.gap_since = None
        self.expected = lb.seq_next(seq)
        return True, seq


@dataclasses.dataclass
class _Command:
    ticket: int
    msg_type: int
    body: bytes
    timeout_s: float
    seq: int = 0
    frame: bytes = b""
    started: float | None = None  # when it became the command in flight
    deadline: float = 0.0
    sends: int = 0
    resend_at: float | None = None  # None: waiting for the link
    awaiting: bool = False  # sent, and no reply yet


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    reply_timeout_s: float = lb.HOST_REPLY_TIMEOUT_MS / 1000
    max_attempts: int = lb.HOST_MAX_ATTEMPTS
    offline_after_s: float = lb.OFFLINE_AFTER_MS / 1000
    ping_idle_s: float = lb.HOST_PING_IDLE_MS / 1000
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S


class BoardSession:
    """The host's session with one board: bytes and `now` in; bytes, outputs and a deadline out."""

    def __init__(
        self,
        expected_kind: str,
        *,
        session_id: int,
        first_seq: int,
        name: str = "",
        settings: SessionSettings = SessionSettings(),
    ) -> None:
        if expected_kind not in lb.KIND_NAMES.values():
            raise ValueError(f"expected_kind must be one of {sorted(lb.KIND_NAMES.values())}")
        self.expected_kind = expected_kind
        self.kind_code = KIND_CODES[expected_kind]
        self.name = name
        self.settings = settings
        self.session_id = session_id & 0xFFFFFFFF
        self._seq = (first_seq - 1) % 0xFFFF
        self.info: BoardInfo | None = None
        self.last_status: list[Any] | None = None
        self.online = False
        self.handshake_error: LaneBusHostError | None = None  # why the last first-handshake failed
        self.events = EventOrder()
        self._stats = LinkStats()
        self._rtts: collections.deque[float] = collections.deque(maxlen=2000)
        self._decoder = lb.FrameDecoder()
        self._out = bytearray()
        self._outputs: list[Output] = []
        self._queue: collections.deque[_Command] = collections.deque()  # the head is in flight
        self._hello: _Command | None = None
        self._rehello = False  # the handshake in flight runs while online (the board reset)
        self._tickets = 0
        self._port_open = False
        self._ever_online = False
        self._last_rx: float | None = None
        self._last_tx = 0.0

    # ------------------------------------------------------------ inputs
    def port_opened(self, now: float) -> None:
        """The shell opened the port: handshake."""
        self._port_open = True
        self._decoder = _carry_counts(self._decoder)
        self._start_hello(now, rehello=False)
        self._service(now)

    def port_failed(self, now: float, reason: str) -> None:
        """The port reported an error (cable pulled, socket closed)."""
        self._lose_link(now, reason, retry_later=False)
        self._service(now)

    def receive(self, data: bytes, now: float) -> None:
        """Bytes read from the port."""
        if not self._port_open:
            return
        self._stats.bytes_rx += len(data)
        for pkt in self._decoder.feed(data):
            self._stats.frames_rx += 1
            self._last_rx = now
            self._on_packet(pkt, now)
        self._service(now)

    def command(self, msg_type: int, body: bytes, now: float, timeout_s: float) -> int:
        """Queue one command; its answer comes out as CommandAnswered/CommandFailed with the ticket returned."""
        self._tickets += 1
        self._queue.append(_Command(self._tickets, msg_type, bytes(body), timeout_s))
        self._service(now)
        return self._tickets

    def cancel(self, ticket: int, now: float) -> None:
        """The caller no longer waits for `ticket`: never send it again (a reply to it is ignored)."""
        self._queue = collections.deque(c for c in self._queue if c.ticket != ticket)
        self._service(now)

    def tick(self, now: float) -> None:
        """Time passed: resends, timeouts, pings, the offline check."""
        self._service(now)

    def close(self, now: float) -> None:
        """The shell is closing: every waiting command fails."""
        self._port_open = False
        self.online = False
        self._hello = None
        while self._queue:
            c = self._queue.popleft()
            self._outputs.append(CommandFailed(c.ticket, BoardOffline(f"{self.name}: client closed")))

    # ------------------------------------------------------------ outputs
    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def outputs(self) -> list[Output]:
        out, self._outputs = self._outputs, []
        return out

    def next_deadline(self) -> float | None:
        """When `tick` must be called next (None: only when bytes arrive or a command is queued)."""
        times: list[float] = []
        for c, link_ok in ((self._hello, self._port_open), (self._head(), self.online)):
            if c is not None and c.started is not None:
                times.append(c.deadline)
                if link_ok and c.resend_at is not None:
                    times.append(c.resend_at)
        if self.online:
            if self._last_rx is not None:
                times.append(self._last_rx + self.settings.offline_after_s)
            times.append(self._last_tx + self.settings.ping_idle_s)
        return min(times) if times else None

    def stats(self, now: float) -> LinkStats:
        s = dataclasses.replace(self._stats)
        d = self._decoder
        s.crc_errors, s.frame_errors, s.oversize_frames = d.crc_errors, d.frame_errors, d.oversize
        s.events_lost = self.events.lost
        rtts = sorted(self._rtts)
        if rtts:
            s.rtt_ms_p50 = round(percentile(rtts, 50) or 0.0, 3)
            s.rtt_ms_p99 = round(percentile(rtts, 99) or 0.0, 3)
        s.last_rx_age_s = round(now - self._last_rx, 3) if self._last_rx is not None else None
        s.online = self.online
        return s

    # ------------------------------------------------------------ commands and timers
    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1
        return self._seq

    def _head(self) -> _Command | None:
        return self._queue[0] if self._queue else None

    def _write(self, frame: bytes, now: float) -> None:
        self._out += frame
        self._stats.frames_tx += 1
        self._stats.bytes_tx += len(frame)
        self._last_tx = now

    def _start(self, c: _Command, now: float) -> None:
        c.seq = self._next_seq()
        c.frame = lb.encode_frame(c.seq, c.msg_type, c.body)
        c.started = now
        c.deadline = now + c.timeout_s

    def _service(self, now: float) -> None:
        """Everything that is due at `now`, in a fixed order."""
        if self.online and self._last_rx is not None and now - self._last_rx >= self.settings.offline_after_s:
            log.warning("%s: silent for %.1f s: offline", self.name, now - self._last_rx)
            self._lose_link(now, f"no frame for {self.settings.offline_after_s} s", retry_later=False)
        if self._hello is not None:
            self._drive(self._hello, now, self._port_open)
        while self._queue:
            head = self._queue[0]
            if head.started is None:
                self._start(head, now)
            if self._drive(head, now, self.online):
                break
        if self.online and now - self._last_tx >= self.settings.ping_idle_s:
            # the reply (or the STATUS heartbeat) proves the link; nobody waits for it
            self._write(lb.encode_frame(self._next_seq(), lb.PING, b""), now)

    def _drive(self, c: _Command, now: float, link_ok: bool) -> bool:
        """Send or resend `c` when due; False when it has just failed (the next one may start)."""
        if c.resend_at is not None and now >= c.resend_at and c.awaiting:
            self._stats.timeouts += 1
            c.awaiting = False
        if now >= c.deadline or (
            not c.awaiting
            and link_ok
            and c.sends >= self.settings.max_attempts
            and (c.resend_at is None or now >= c.resend_at)
        ):
            self._fail(c, now)
            return False
        if not link_ok:
            c.resend_at = None
            c.awaiting = False
            return True
        if c.resend_at is None:
            c.resend_at = now
        if now >= c.resend_at:
            if c.sends:
                self._stats.retransmits += 1
            self._write(c.frame, now)
            c.sends += 1
            c.awaiting = True
            c.resend_at = now + self.settings.reply_timeout_s
        return True

    def _fail(self, c: _Command, now: float) -> None:
        err = BoardOffline(f"{self.name}: no reply to {lb.message_name(c.msg_type)} seq {c.seq} after {c.sends} sends")
        if c is self._hello:
            self._hello = None
            if self._rehello:
                self._rehello = False
                log.warning("%s: handshake after board reset failed: %s", self.name, err)
            else:
                self._lose_link(now, str(err), retry_later=True)
            return
        self._queue.remove(c)
        self._outputs.append(CommandFailed(c.ticket, err))

    def _lose_link(self, now: float, reason: str, retry_later: bool) -> None:
        if not self._port_open:
            return
        log.info("%s: link lost: %s", self.name, reason)
        self._port_open = False
        self._hello = None
        self._rehello = False
        head = self._head()
        if head is not None:
            head.resend_at, head.awaiting = None, False
        if self.online:
            self.online = False
            self._outputs.append(EventDelivered(BoardEvent("offline", {"reason": reason}, board=self.name)))
        self._outputs.append(ClosePort(reason, retry_later))

    # ------------------------------------------------------------ handshake
    def _start_hello(self, now: float, rehello: bool) -> None:
        body = lb.pack_fields(lb.request_fields(lb.HELLO), [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, self.session_id])
        self._hello = _Command(0, lb.HELLO, body, self.settings.handshake_timeout_s)
        self._start(self._hello, now)
        self._rehello = rehello

    def _hello_answered(self, result: int, values: list[Any] | None, detail: int, now: float) -> None:
        rehello, self._rehello, self._hello = self._rehello, False, None
        err = hello_refusal(self.name, self.expected_kind, result, values, detail)
        if err is not None:
            log.error("%s: %s", self.name, err)
            if not rehello:
                self.handshake_error = err
                self._lose_link(now, str(err), retry_later=True)
            return
        assert values is not None
        kind, pmaj, pmin, fmaj, fmin, fpat, boot_id, _event_seq, board_id = values
        old = self.info
        self.info = BoardInfo(
            as_text(board_id), lb.KIND_NAMES[kind], f"{fmaj}.{fmin}.{fpat}", f"{pmaj}.{pmin}", boot_id
        )
        if old is not None and old.boot_id != boot_id:
            self._outputs.append(
                EventDelivered(BoardEvent("board_reset", {"board_id": self.info.board_id}, board=self.name))
            )
        if not rehello:
            if self._ever_online:
                self._stats.reconnects += 1
            self._ever_online = True
            self.online = True
            self.handshake_error = None
            self._last_rx = now
            self._outputs.append(
                EventDelivered(BoardEvent("online", {"board_id": self.info.board_id}, board=self.name))
            )

    # ------------------------------------------------------------ frames in
    def _on_packet(self, pkt: lb.Packet, now: float) -> None:
        if pkt.mtype == lb.NAK:
            self._stats.naks += 1
        if pkt.mtype == lb.NAK or pkt.mtype & lb.REPLY_FLAG:
            reply = parse_reply(pkt, self.kind_code)
            if reply is not None:
                self._on_reply(pkt.seq, *reply, now)
        elif 0x40 <= pkt.mtype <= 0x7F:
            self._on_event(pkt.seq, pkt.mtype, bytes(pkt.body), now)

    def _on_reply(
        self, seq: int, cmd: int | None, result: int, values: list[Any] | None, detail: int, now: float
    ) -> None:
        hello = self._hello
        if hello is not None and seq == hello.seq and cmd in (None, lb.HELLO):
            if result == lb.OK and values:
                # in wire order: events behind this reply are judged against the new event_seq
                same_boot = self.info is not None and self.info.boot_id == values[6]
                self.events.resync(same_boot, values[7])
                if same_boot and self.events.expected is not None:
                    # the board still holds events we delivered (their ACK was lost): acknowledge them,
                    # or a repeat of its event 1 would be taken for a reset again and again
                    self._ack(_seq_before(self.events.expected), now)
            self._hello_answered(result, values, detail, now)
            return
        head = self._head()
        if head is None or head.started is None or seq != head.seq or cmd not in (None, head.msg_type):
            return  # a late reply to a PING, or to a command already answered or given up
        self._queue.popleft()
        rtt = (now - head.started) * 1000
        self._rtts.append(rtt)
        self._stats.commands += 1
        if result != lb.OK:
            self._stats.refusals += 1
        reply = Reply(head.msg_type | lb.REPLY_FLAG, seq, result, values, detail, rtt)
        self._outputs.append(CommandAnswered(head.ticket, reply))

    def _on_event(self, seq: int, mtype: int, body: bytes, now: float) -> None:
        fields = lb.request_fields(mtype, self.kind_code)
        if fields is None:
            return
        try:
            vals = lb.unpack_fields(fields, body)
        except lb.FieldError:
            return
        if mtype == lb.EV_STATUS:
            self.last_status = vals
            data = {f[0]: as_text(v) for f, v in zip(fields, vals)}
            self._deliver(BoardEvent("status", data, seq, self.name))
            return
        if self._rehello or not self.online:
            # never judge or acknowledge events before the HELLO reply: its event_seq says where to
            # start (an event taken earlier could be counted again, or its successors taken for a gap);
            # the board re-sends them after EVENT_RETRY_MS
            return
        if self.online and self.events.restarted(seq):
            # the board's event counter restarted: handshake again (boot_id, event_seq)
            self._start_hello(now, rehello=True)
            return
        deliver, ack = self.events.accept(seq, now)
        self._ack(ack, now)
        if deliver:
            name, data = describe_event(mtype, vals)
            self._deliver(BoardEvent(name, data, seq, self.name))

    def _ack(self, seq: int, now: float) -> None:
        self._write(lb.encode_frame(self._next_seq(), lb.EVENT_ACK, seq.to_bytes(2, "big")), now)

    def _deliver(self, ev: BoardEvent) -> None:
        self._stats.events += 1
        self._outputs.append(EventDelivered(ev))


def _carry_counts(old: lb.FrameDecoder) -> lb.FrameDecoder:
    d = lb.FrameDecoder()
    d.crc_errors, d.frame_errors, d.oversize, d.frames = old.crc_errors, old.frame_errors, old.oversize, old.frames
    return d
