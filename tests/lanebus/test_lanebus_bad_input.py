"""Bad input on the wire to a running simulated board: each gets the
documented refusal (lane-bus.md section 5) and the board keeps running."""

from __future__ import annotations

import time

import pytest
import serial

from firmware import lanebus as lb


class RawLink:
    def __init__(self, url: str) -> None:
        self.ser = serial.serial_for_url(url, timeout=0.05)
        self.dec = lb.FrameDecoder()

    def send_raw(self, data: bytes) -> None:
        self.ser.write(data)

    def wait_reply(self, seq: int, timeout: float = 2.0) -> lb.Packet:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.dec.feed(self.ser.read(256)):
                if p.seq == seq and (p.mtype & lb.REPLY_FLAG):
                    return p
        raise AssertionError(f"no reply to seq {seq}")

    def command(self, seq: int, mtype: int, body: bytes = b"", version: int = lb.VERSION_BYTE) -> lb.Packet:
        self.send_raw(lb.encode_frame(seq, mtype, body, version))
        return self.wait_reply(seq)

    def still_running(self, seq: int) -> bool:
        return self.command(seq, lb.PING).body[0] == lb.OK


@pytest.fixture
def link(io_sim):
    raw = RawLink(io_sim.url)
    yield raw
    raw.ser.close()


def test_unknown_message_type_is_refused_with_nak(link):
    p = link.command(100, 0x3D)
    assert (p.mtype, p.body[0], p.body[1]) == (lb.NAK, lb.E_UNKNOWN_TYPE, 0x3D)
    assert link.still_running(101)


def test_oversize_frame_is_refused_with_nak_seq_0(link):
    link.send_raw(b"\x7e" * (lb.MAX_FRAME + 50) + b"\x00")
    p = link.wait_reply(0)
    assert (p.mtype, p.body[0]) == (lb.NAK, lb.E_FRAME_TOO_LONG)
    assert link.still_running(102)


def test_wrong_protocol_version_is_refused(link):
    p = link.command(103, lb.PING, version=0x20)
    assert (p.mtype, p.body[0], p.body[1]) == (lb.NAK, lb.E_BAD_VERSION, lb.PROTOCOL_MAJOR)
    hello = lb.pack_fields(lb.request_fields(lb.HELLO), [2, 0, 5])
    p = link.command(104, lb.HELLO, hello)
    assert (p.mtype, p.body[0]) == (lb.HELLO | lb.REPLY_FLAG, lb.E_BAD_VERSION)
    assert link.still_running(105)


def test_out_of_range_fields_are_refused_with_bad_field(link):
    p = link.command(106, lb.BARRIER_OPEN, b"\x07")
    assert p.body[0] == lb.E_BAD_FIELD
    p = link.command(107, lb.SET_LIGHT, b"\x00\x05")
    assert (p.body[0], p.body[1]) == (lb.E_BAD_FIELD, 1)
    assert link.still_running(108)


def test_wrong_body_length_is_refused_with_bad_length(link):
    p = link.command(109, lb.BARRIER_CLOSE, b"")
    assert p.body[0] == lb.E_BAD_LENGTH
    assert link.still_running(110)


def test_issuer_command_to_io_board_is_not_supported(link):
    p = link.command(111, lb.CLEAR_FAULT)
    assert p.body[0] == lb.E_NOT_SUPPORTED
    assert link.still_running(112)


def test_garbage_between_frames_is_ignored(link, io_sim):
    link.send_raw(bytes(range(1, 200)) + b"\x00\x00\x13\x37\x00")
    assert link.still_running(113)
    assert io_sim.crashes == 0
