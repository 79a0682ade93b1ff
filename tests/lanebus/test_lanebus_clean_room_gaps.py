"""The gaps a clean-room client (written from hardware_specs/lane-bus.md alone) found, each pinned on the
real firmware running in the simulator and spoken to byte by byte, as such a client does."""

from __future__ import annotations

import time

import pytest
import serial
from fw_fakes import FakeHal, reply_to

from firmware import lanebus as lb
from firmware.io_board import IoBoard
from firmware.plate_issuer import PlateIssuer


class RawHost:
    """A minimal host on a simulated board's serial link: frames out, packets in."""

    def __init__(self, url: str) -> None:
        self.ser = serial.serial_for_url(url, timeout=0.05)
        self.dec = lb.FrameDecoder()
        self.seen: list[lb.Packet] = []

    def send(self, seq: int, mtype: int, body: bytes = b"") -> None:
        self.ser.write(lb.encode_frame(seq, mtype, body))

    def wait_for(self, match, timeout: float = 3.0) -> lb.Packet:
        deadline = time.monotonic() + timeout
        while True:
            for p in self.seen:
                if match(p):
                    self.seen.remove(p)
                    return p
            if time.monotonic() > deadline:
                raise AssertionError("no matching frame from the board")
            self.seen += self.dec.feed(self.ser.read(256))

    def command(
        self,
        seq: int,
        mtype: int,
        values: list | None = None,
        *,
        body: bytes | None = None,
        kind: int = lb.KIND_IO_BOARD,
    ) -> lb.Packet:
        if body is None:
            body = lb.pack_fields(lb.request_fields(mtype, kind) or (), values or [])
        self.send(seq, mtype, body)
        return self.wait_for(lambda p: p.seq == seq and p.mtype == mtype | lb.REPLY_FLAG)

    def hello(self, seq: int, session: int = 7) -> list:
        r = self.command(seq, lb.HELLO, [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, session])
        return lb.unpack_fields(lb.reply_fields(lb.HELLO), r.body, 1)

    def close(self) -> None:
        self.ser.close()


@pytest.fixture
def io_host(io_sim):
    host = RawHost(io_sim.url)
    yield host
    host.close()


@pytest.fixture
def issuer_host(issuer_sim):
    host = RawHost(issuer_sim.url)
    yield host
    host.close()


def test_issue_with_text_that_is_not_utf8_is_refused_with_bad_field_and_prints_nothing(issuer_host, issuer_sim):
    issuer_host.hello(1)
    fields = lb.request_fields(lb.ISSUE, lb.KIND_PLATE_ISSUER)
    r = issuer_host.command(2, lb.ISSUE, body=lb.pack_fields(fields, [b"J-\xff", 0, "京A12345"]))
    assert list(r.body) == [lb.E_BAD_FIELD, 0]
    r = issuer_host.command(3, lb.ISSUE, body=lb.pack_fields(fields, ["J-1", 0, b"\xe4\xba" + b"A12345"]))
    assert list(r.body) == [lb.E_BAD_FIELD, 2]
    st = issuer_host.command(4, lb.GET_STATUS, kind=lb.KIND_PLATE_ISSUER)
    assert lb.unpack_fields(lb.ISSUER_STATUS, st.body, 1)[5] == b""  # no job taken
    assert issuer_sim.control().state()["issued"] == []


def test_a_stale_event_ack_does_not_drop_the_boards_first_events_after_a_reset(issuer_host, issuer_sim):
    """The host acknowledged events up to 57 before the board reset; the reset board's FAULT
    (reset_during_job) is its event 1, and the stale ACK must not clear it."""
    issuer_host.hello(1)
    issuer_host.send(
        2, lb.ISSUE, lb.pack_fields(lb.request_fields(lb.ISSUE, lb.KIND_PLATE_ISSUER), ["J-9", 0, "京A00009"])
    )
    issuer_host.wait_for(lambda p: p.mtype == lb.ISSUE | lb.REPLY_FLAG)
    issuer_sim.power_cycle()  # mid-job: the journal shows a running job at start-up
    first = issuer_host.wait_for(lambda p: p.mtype == lb.EV_FAULT, timeout=3).seq
    issuer_host.send(3, lb.EVENT_ACK, (57).to_bytes(2, "big"))  # the old count: stale for the new boot
    # the board keeps re-sending it until it is really acknowledged
    again = issuer_host.wait_for(
        lambda p: p.mtype == lb.EV_FAULT and p.seq == first, timeout=3 * lb.EVENT_RETRY_MS / 1000 + 1
    )
    assert lb.unpack_fields(lb.request_fields(lb.EV_FAULT), again.body)[0] == lb.FAULT_RESET_DURING_JOB
    assert issuer_host.hello(4)[7] == first  # event_seq: still the oldest unacknowledged


def test_stop_on_an_arm_at_rest_is_reported_as_a_barrier_event(io_host, io_sim):
    io_host.hello(1)
    r = io_host.command(2, lb.BARRIER_STOP, [0])
    assert list(r.body) == [lb.OK, lb.ARM_CLOSED]
    ev = io_host.wait_for(lambda p: p.mtype == lb.EV_BARRIER)
    assert list(ev.body) == [0, lb.BEV_STOPPED, lb.ARM_CLOSED, 0]
    assert io_sim.control().state()["barriers"]["entry"]["arm"] == "closed"


def test_uptime_is_milliseconds_since_boot_even_when_the_tick_counter_starts_near_its_wrap(io_host, io_sim):
    """The simulator starts the firmware's 2**30 tick counter 20 s before it wraps: the tick count read as
    uptime was about 2**30 after boot.  uptime_ms counts from boot and keeps rising across the wrap."""
    r = io_host.command(1, lb.PING)
    up = lb.unpack_fields(lb.reply_fields(lb.PING), r.body, 1)[0]
    assert up < 60_000
    st = io_host.command(2, lb.GET_STATUS)
    assert up <= lb.unpack_fields(lb.IO_STATUS, st.body, 1)[0] < 60_000


def _board(kind: str):
    hal = FakeHal(now=100, inputs=lb.IN_LIMIT_OPEN | lb.IN_LOOP)
    board = IoBoard(hal) if kind == "io" else PlateIssuer(hal)
    for _ in range(20):
        board.step()
        hal.idle(5)
    hal.received()
    return hal, board


def _refusal(hal, board, seq, mtype, values, kind=lb.KIND_IO_BOARD):
    hal.send(seq, mtype, values, kind=kind)
    board.step()
    r = reply_to(hal.received(), seq, mtype)
    return r.body[0], r.body[1]


def test_every_refusal_carries_the_detail_the_spec_gives_it():
    details = {r[0]: r[3] for r in lb.RESULTS}
    hal, io = _board("io")
    code, detail = _refusal(hal, io, 1, lb.BARRIER_CLOSE, [0])
    assert (code, detail) == (lb.E_OCCUPIED, lb.IN_LOOP) and details[code] == "the presence input bits"
    code, detail = _refusal(hal, io, 2, lb.SET_LIGHT, [0, 7])
    assert (code, detail) == (lb.E_BAD_FIELD, 1) and details[code] == "0-based index of the field"
    code, detail = _refusal(hal, io, 3, lb.CLEAR_FAULT, [])
    assert (code, detail) == (lb.E_NOT_SUPPORTED, lb.CLEAR_FAULT) and details[code] == "the type"
    hal, issuer = _board("issuer")
    hal.sensors = 1 << 9  # the green magazine is empty
    issuer.step()
    code, detail = _refusal(hal, issuer, 4, lb.ISSUE, ["J", 1, "A"], lb.KIND_PLATE_ISSUER)
    assert (code, detail) == (lb.E_MAGAZINE_EMPTY, 1) and details[code] == "the plate type"
    code, detail = _refusal(hal, issuer, 5, lb.JOB_STATUS, ["nope"], lb.KIND_PLATE_ISSUER)
    assert (code, detail) == (lb.E_UNKNOWN_JOB, 0) and details[code] == "0"
