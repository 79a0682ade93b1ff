"""The host side of the lane bus as a pure session (edge.lanebus.session.BoardSession): bytes and time in,
bytes, outputs and a deadline out.  No port, no thread, no clock: every test sets `now` itself.

The first tests script the board's frames by hand; the property test runs the real board firmware
(IoBoard on a fake HAL) at the other end of a wire that loses, repeats and reorders frames."""

from __future__ import annotations

import collections

from fw_fakes import FakeHal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.lanebus.session import (
    BoardOffline,
    BoardSession,
    ClosePort,
    CommandAnswered,
    CommandFailed,
    EventDelivered,
    SessionSettings,
    WrongBoard,
)
from firmware import lanebus as lb
from firmware.io_board import IoBoard

BOOT = 0x1234


def new_session(**kw) -> BoardSession:
    return BoardSession("io-board", session_id=7, first_seq=100, name="io", settings=SessionSettings(**kw))


def sent(s: BoardSession) -> list[lb.Packet]:
    return lb.FrameDecoder().feed(s.data_to_send())


def hello_reply(seq: int, *, kind: int = lb.KIND_IO_BOARD, boot: int = BOOT, event_seq: int = 1) -> bytes:
    vals = [kind, lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, 1, 0, 0, boot, event_seq, "e66141"]
    return lb.encode_reply(seq, lb.HELLO, lb.OK, lb.reply_fields(lb.HELLO), vals)


def event(seq: int, barrier: int = 0, ev: int = lb.BEV_OPENING) -> bytes:
    return lb.encode_frame(seq, lb.EV_BARRIER, bytes([barrier, ev, lb.ARM_OPENING, 0]))


def online(now: float = 0.0, event_seq: int = 1, boot: int = BOOT) -> BoardSession:
    s = new_session()
    s.port_opened(now)
    (hello,) = sent(s)
    s.receive(hello_reply(hello.seq, event_seq=event_seq, boot=boot), now)
    s.outputs()
    return s


def delivered(outputs) -> list:
    return [o.event for o in outputs if isinstance(o, EventDelivered)]


def acks(packets: list[lb.Packet]) -> list[int]:
    return [int.from_bytes(p.body, "big") for p in packets if p.mtype == lb.EVENT_ACK]


def test_the_handshake_sends_hello_and_the_reply_brings_the_link_up():
    s = new_session()
    s.port_opened(10.0)
    (hello,) = sent(s)
    assert hello.mtype == lb.HELLO and hello.seq == 100
    assert lb.unpack_fields(lb.request_fields(lb.HELLO), hello.body) == [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, 7]
    assert not s.online
    s.receive(hello_reply(hello.seq), 10.01)
    assert s.online and s.info is not None and s.info.board_id == "e66141" and s.info.boot_id == BOOT
    assert [e.name for e in delivered(s.outputs())] == ["online"]


def test_a_board_of_another_kind_is_refused_and_the_port_closed_to_try_again_later():
    s = new_session()
    s.port_opened(0.0)
    (hello,) = sent(s)
    s.receive(hello_reply(hello.seq, kind=lb.KIND_PLATE_ISSUER), 0.01)
    assert not s.online and isinstance(s.handshake_error, WrongBoard)
    assert s.outputs() == [ClosePort(str(s.handshake_error), retry_later=True)]


def test_a_command_is_resent_identically_on_silence_and_answered_once():
    s = online()
    ticket = s.command(lb.SET_LIGHT, bytes([0, lb.LIGHT_GREEN]), 1.0, 15.0)
    (first,) = sent(s)
    assert s.next_deadline() == 1.0 + lb.HOST_REPLY_TIMEOUT_MS / 1000
    s.tick(1.1)
    assert sent(s) == []
    s.tick(1.25)
    assert sent(s) == [first]  # the same seq and body: executed at most once
    reply = lb.encode_reply(first.seq, lb.SET_LIGHT, lb.OK, lb.reply_fields(lb.SET_LIGHT), [lb.LIGHT_GREEN])
    s.receive(reply + reply, 1.3)  # the board answered both sends
    (answer,) = s.outputs()
    assert isinstance(answer, CommandAnswered) and answer.ticket == ticket
    assert answer.reply.ok and answer.reply.values == [lb.LIGHT_GREEN] and answer.reply.seq == first.seq
    assert s.stats(1.3).retransmits == 1 and s.stats(1.3).timeouts == 1


def test_a_command_without_any_answer_fails_after_the_last_attempt():
    s = online()
    ticket = s.command(lb.PING, b"", 0.0, 15.0)
    now = 0.0
    sends = len(sent(s))
    while not (outs := s.outputs()):
        now = s.next_deadline()
        s.tick(now)
        sends += len([p for p in sent(s) if p.mtype != lb.PING or p.seq != 0])
    assert outs[0] == CommandFailed(ticket, outs[0].error) and isinstance(outs[0].error, BoardOffline)
    assert now == lb.HOST_MAX_ATTEMPTS * lb.HOST_REPLY_TIMEOUT_MS / 1000


def test_a_command_issued_while_the_link_is_down_waits_and_keeps_its_seq():
    s = online()
    ticket = s.command(lb.BARRIER_OPEN, b"\x00", 1.0, 15.0)
    (first,) = sent(s)
    s.port_failed(1.1, "link lost: cable pulled")
    outs = s.outputs()
    assert [e.name for e in delivered(outs)] == ["offline"] and ClosePort("link lost: cable pulled", False) in outs
    s.tick(3.0)
    assert sent(s) == []  # nothing goes out on a closed port
    s.port_opened(3.0)
    (hello,) = sent(s)
    s.receive(hello_reply(hello.seq), 3.05)
    assert [p for p in sent(s) if p.mtype == lb.BARRIER_OPEN] == [first]
    s.receive(lb.encode_reply(first.seq, lb.BARRIER_OPEN, lb.OK, lb.reply_fields(lb.BARRIER_OPEN), [2]), 3.1)
    assert any(isinstance(o, CommandAnswered) and o.ticket == ticket for o in s.outputs())
    assert s.stats(3.1).reconnects == 1


def test_a_silent_board_is_declared_offline():
    s = online(0.0)
    s.receive(lb.encode_frame(0, lb.EV_STATUS, lb.pack_fields(lb.IO_STATUS, [1] + [0] * 10)), 1.0)
    s.outputs()
    s.tick(1.0 + lb.OFFLINE_AFTER_MS / 1000 - 0.01)
    assert s.online
    s.tick(1.0 + lb.OFFLINE_AFTER_MS / 1000)
    outs = s.outputs()
    assert not s.online and [e.name for e in delivered(outs)] == ["offline"]
    assert any(isinstance(o, ClosePort) and not o.retry_later for o in outs)


def test_an_idle_link_sends_ping():
    s = online(0.0)
    assert s.next_deadline() == lb.HOST_PING_IDLE_MS / 1000
    s.tick(lb.HOST_PING_IDLE_MS / 1000)
    assert [p.mtype for p in sent(s)] == [lb.PING]


def test_events_right_behind_the_hello_reply_are_judged_against_its_event_seq():
    """The board re-sends its window right behind the HELLO reply, in the same read: event_seq is applied
    in wire order, so a new boot's event 1 is delivered (not taken for a repeat or a restart)."""
    s = online(0.0)
    for seq in (1, 2, 3, 4):
        s.receive(event(seq), 0.1)
    assert [e.seq for e in delivered(s.outputs())] == [1, 2, 3, 4]
    s.port_failed(0.2, "link lost")
    s.outputs()
    s.port_opened(0.3)
    hello = [p for p in sent(s) if p.mtype == lb.HELLO][0]
    s.receive(hello_reply(hello.seq, boot=BOOT + 1, event_seq=1) + event(1, ev=lb.BEV_FAULT), 0.35)
    evs = delivered(s.outputs())
    assert [e.name for e in evs] == ["board_reset", "online", "barrier_fault"] and evs[2].seq == 1
    assert acks(sent(s)) == [1]


def test_a_repeated_event_is_acknowledged_again_and_delivered_once():
    s = online()
    s.receive(event(1) + event(2) + event(3) + event(3) + event(2), 0.1)
    assert [e.seq for e in delivered(s.outputs())] == [1, 2, 3]
    assert acks(sent(s)) == [1, 2, 3, 3, 3]


def test_after_a_gap_the_host_waits_for_the_resend_and_gives_up_only_after_event_give_up_ms():
    s = online()
    s.receive(event(1) + event(3), 0.1)  # event 2 lost
    assert [e.seq for e in delivered(s.outputs())] == [1]
    assert acks(sent(s)) == [1, 1]
    s.receive(event(2) + event(3), 0.4)  # go-back-N: the board re-sends from 2
    assert [e.seq for e in delivered(s.outputs())] == [2, 3]
    s.receive(event(5), 0.5)  # 4 lost for good (the board's window overflowed)
    s.receive(event(5), 0.5 + lb.EVENT_GIVE_UP_MS / 1000)
    assert [e.seq for e in delivered(s.outputs())] == [5]
    assert s.stats(3.0).events_lost == 1


def test_an_event_counter_restart_makes_the_host_handshake_again_before_acknowledging():
    s = online()
    s.receive(event(1) + event(2), 0.1)
    sent(s), s.outputs()
    s.receive(event(1), 0.2)  # the board reset without the link dropping
    packets = sent(s)
    assert [p.mtype for p in packets] == [lb.HELLO] and delivered(s.outputs()) == []
    s.receive(event(1), 0.25)
    assert sent(s) == []  # nothing acknowledged before the HELLO reply
    s.receive(hello_reply(packets[0].seq, boot=BOOT + 1, event_seq=1) + event(1), 0.3)
    assert [e.name for e in delivered(s.outputs())] == ["board_reset", "barrier_opening"]
    assert acks(sent(s)) == [1]


def test_a_cancelled_command_is_never_sent_again_and_its_late_reply_is_ignored():
    s = online()
    ticket = s.command(lb.BARRIER_OPEN, b"\x00", 1.0, 15.0)
    (first,) = sent(s)
    s.cancel(ticket, 1.1)
    s.tick(2.0)
    assert [p for p in sent(s) if p.mtype == lb.BARRIER_OPEN] == []
    s.receive(lb.encode_reply(first.seq, lb.BARRIER_OPEN, lb.OK, lb.reply_fields(lb.BARRIER_OPEN), [2]), 2.1)
    assert [o for o in s.outputs() if isinstance(o, (CommandAnswered, CommandFailed))] == []


def test_commands_go_one_at_a_time_in_the_order_given():
    s = online()
    t1 = s.command(lb.SET_LIGHT, bytes([0, 1]), 1.0, 15.0)
    t2 = s.command(lb.SET_LIGHT, bytes([1, 2]), 1.0, 15.0)
    (p1,) = sent(s)
    s.receive(lb.encode_reply(p1.seq, lb.SET_LIGHT, lb.OK, lb.reply_fields(lb.SET_LIGHT), [1]), 1.01)
    (p2,) = sent(s)
    assert bytes(p2.body) == bytes([1, 2]) and p2.seq != p1.seq
    s.receive(lb.encode_reply(p2.seq, lb.SET_LIGHT, lb.OK, lb.reply_fields(lb.SET_LIGHT), [2]), 1.02)
    assert [o.ticket for o in s.outputs() if isinstance(o, CommandAnswered)] == [t1, t2]


# ---------------------------------------------------------------- the real firmware over a bad wire
CLOSED = lb.IN_LIMIT_CLOSED | (lb.IN_LIMIT_CLOSED << 8)
STEP_MS = 5
COMMANDS = (
    (lb.SET_LIGHT, [0, lb.LIGHT_GREEN]),
    (lb.SET_LIGHT, [1, lb.LIGHT_RED]),
    (lb.BARRIER_OPEN, [0]),
    (lb.BARRIER_CLOSE, [0]),
    (lb.BARRIER_STOP, [1]),
    (lb.BARRIER_OPEN, [1]),
    (lb.GET_STATUS, []),
    (lb.PING, []),
)


def _frames(data: bytes) -> list[bytes]:
    return [f + b"\x00" for f in data.split(b"\x00") if f]


BAD_STEPS = 1000 // STEP_MS  # the wire is bad for the first second, then good


class BadWire:
    """The host session and the real I/O board firmware; every frame put on the wire in the bad second gets
    a fate drawn by hypothesis: delivered, lost, delivered twice, or held back (overtaken by later ones)."""

    def __init__(self, fate) -> None:
        self.fate = fate
        self.hal = FakeHal(now=1000, inputs=CLOSED)
        self.board = IoBoard(self.hal)
        self.host = BoardSession("io-board", session_id=9, first_seq=65530, name="io")
        self.step = 0
        self.in_flight: list[tuple[int, int, str, bytes]] = []  # (due step, order, to, frame)
        self.order = 0
        self.outputs: list = []
        self.board_events: dict[int, bytes] = {}  # first transmission of each reliable event, by seq
        self.host.port_opened(self.now)
        self._collect()

    @property
    def now(self) -> float:
        return self.hal.now / 1000

    def _put(self, to: str, frame: bytes) -> None:
        copies, delay = (1, 0) if self.step >= BAD_STEPS else self.fate()
        for _ in range(copies):
            self.order += 1
            self.in_flight.append((self.step + delay, self.order, to, frame))

    def _collect(self) -> None:
        for f in _frames(self.host.data_to_send()):
            self._put("board", f)
        self.outputs += self.host.outputs()
        for f in _frames(bytes(self.hal.tx)):
            self._put("host", f)
            (p,) = lb.FrameDecoder().feed(f)
            if 0x40 < p.mtype < 0x80:
                self.board_events.setdefault(p.seq, bytes(p.body))
        self.hal.tx = bytearray()

    def run_step(self) -> None:
        """Deliver what is due (in the order it was put on the wire), then 5 ms pass."""
        due = sorted(f for f in self.in_flight if f[0] <= self.step)
        self.in_flight = [f for f in self.in_flight if f[0] > self.step]
        for _, _, to, frame in due:
            if to == "board":
                self.hal.rx.extend(frame)
                self.board.step()
            else:
                self.host.receive(frame, self.now)
            self._collect()
        self.step += 1
        self.hal.now += STEP_MS
        self.board.step()
        self.host.tick(self.now)
        self._collect()


def wire_fate(data):
    """(copies, delay in steps) for one frame: mostly on time, else lost, doubled or overtaken."""

    def fate() -> tuple[int, int]:
        k = data.draw(st.integers(0, 9))
        if k < 5:
            return 1, 0
        if k == 5:
            return 0, 0
        if k == 6:
            return 2, data.draw(st.integers(0, 40))
        return 1, data.draw(st.integers(1, 60))

    return fate


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(st.integers(0, len(COMMANDS) - 1), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, BAD_STEPS), st.integers(0, 1)), max_size=4),
    st.data(),
)
def test_lost_repeated_and_reordered_frames_answer_each_command_once_and_deliver_each_event_once_in_order(
    picks, vehicles, data
):
    """Any interleaving of lost, duplicated and reordered frames (for 1 s, then a good wire): every command
    is answered exactly once and executed by the board exactly once; every event the board raised is
    delivered exactly once, in the board's order.  (Stale repeats stay within DEDUP_DEPTH commands and gaps
    within EVENT_GIVE_UP_MS: the two limits the spec documents.)"""
    w = BadWire(wire_fate(data))
    tickets = {}
    for k in picks:
        mtype, values = COMMANDS[k]
        body = lb.pack_fields(lb.request_fields(mtype), values)
        tickets[w.host.command(mtype, body, w.now, 15.0)] = mtype
    toggles = collections.Counter(vehicles)
    for _ in range(BAD_STEPS + 600):  # the bad second, then up to 3 s of good wire
        for barrier in (0, 1):
            if toggles[(w.step, barrier)] % 2:
                w.hal.inputs ^= lb.IN_LOOP << (8 * barrier)  # a vehicle arrives on / leaves a loop
        w.run_step()
        answered = [o for o in w.outputs if isinstance(o, CommandAnswered)]
        events = [e.seq for e in delivered(w.outputs) if e.seq]
        if (
            w.step > BAD_STEPS
            and not w.in_flight
            and len(answered) == len(tickets)
            and sorted(set(events)) == sorted(w.board_events)
        ):
            break
    assert [o for o in w.outputs if isinstance(o, CommandFailed)] == []
    assert sorted(o.ticket for o in answered) == sorted(tickets)  # each exactly once
    for mtype in {lb.SET_LIGHT, lb.BARRIER_OPEN, lb.BARRIER_CLOSE, lb.BARRIER_STOP}:
        assert w.board.link.executed[mtype] == sum(1 for t in tickets.values() if t == mtype)
    first = min(w.board_events)
    assert events == list(range(first, first + len(events)))  # once each, in order, no gap
    assert sorted(events) == sorted(w.board_events)
    by_seq = {e.seq: e for e in delivered(w.outputs) if e.seq}
    for seq, body in w.board_events.items():  # the board's event, unchanged
        assert by_seq[seq].name.startswith(("barrier_", "presence_", "host_link"))
        if by_seq[seq].name == "presence_changed":
            assert by_seq[seq].data["present"] == bool(body[2])
    assert w.host.stats(w.now).events_lost == 0 and w.board.link.events_dropped == 0
    assert collections.Counter(type(o).__name__ for o in w.outputs)["ClosePort"] == 0


def test_a_lost_ack_for_event_1_does_not_make_the_host_handshake_forever():
    """A repeat of event 1 looks like a board reset; the HELLO reply says the boot is the same, and the host
    then acknowledges what it delivered, so the board stops repeating it (before: a handshake per repeat)."""
    s = online()
    s.receive(event(1), 0.1)
    sent(s), s.outputs()
    s.receive(event(1), 0.4)  # our ACK was lost: the board repeats event 1
    (hello,) = sent(s)
    s.receive(hello_reply(hello.seq, boot=BOOT, event_seq=1), 0.45)
    assert acks(sent(s)) == [1] and delivered(s.outputs()) == []
