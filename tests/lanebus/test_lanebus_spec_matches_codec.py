"""hardware_specs/lane-bus.md is checked against firmware/lanebus.py:
the human spec and the codec are one contract written twice, and this test
keeps them equal (message table, field layouts, result codes, limits and
timing, records, enumerations)."""

from __future__ import annotations

import re
from pathlib import Path

from firmware import lanebus as lb

SPEC = Path(__file__).resolve().parents[2] / "hardware_specs" / "lane-bus.md"


def _tables_under(heading: str) -> list[list[str]]:
    text = SPEC.read_text(encoding="utf-8")
    m = re.search(r"^#+ " + re.escape(heading) + r".*$", text, re.M)
    assert m, f"heading {heading!r} missing in lane-bus.md"
    rows = []
    started = False
    for line in text[m.end() :].splitlines():
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            rows.append(cells)
        elif started:
            break
        elif line.startswith("#"):
            break
    assert rows, f"no table under {heading!r}"
    return rows[1:]  # without the header row


def _fields(text: str) -> object:
    if text == "—":
        return None
    if text == "(empty)":
        return ()
    if text.endswith(" record"):
        return text[: -len(" record")]
    return tuple(tuple(f.strip().split(" ")) for f in text.split(","))


def test_message_table_matches_codec():
    rows = _tables_under("4. Message types")
    doc = {int(r[0], 16): (r[1], r[2], _fields(r[3]), _fields(r[4])) for r in rows}
    code = {m[0]: (m[1], m[2], m[3], m[4]) for m in lb.MESSAGES}
    assert doc == code


def test_result_codes_match_codec():
    rows = _tables_under("5. Result and refusal codes")
    assert [(int(r[0]), r[1], r[2], r[3]) for r in rows] == list(lb.RESULTS)


def test_limits_and_timing_match_codec():
    rows = _tables_under("Limits and timing")
    doc = {r[0]: int(r[1]) for r in rows}
    assert doc == {name: getattr(lb, name) for name in doc}
    assert set(doc) >= {"MAX_FRAME", "MAX_BODY", "HEARTBEAT_MS", "OFFLINE_AFTER_MS", "HOST_REPLY_TIMEOUT_MS"}


def test_records_match_codec():
    for heading, record in (
        ("IO status record", lb.IO_STATUS),
        ("Issuer status record", lb.ISSUER_STATUS),
        ("Vehicle status record", lb.VEHICLE_STATUS),
        ("Job record", lb.JOB_RECORD),
    ):
        assert tuple((r[0], r[1]) for r in _tables_under(heading)) == record, heading


def test_enumerations_match_codec():
    def names(heading: str) -> dict[int, str]:
        return {int(r[0]): r[1] for r in _tables_under(heading)}

    assert names("Arm states") == dict(enumerate(lb.ARM_NAMES))
    assert names("Barrier events") == {i: n for i, n in enumerate(lb.BARRIER_EVENT_NAMES) if n}
    assert names("Input bits") == dict(lb.INPUT_NAMES)
    assert names("Lights") == dict(enumerate(lb.LIGHT_NAMES))
    assert names("Plate types") == dict(enumerate(lb.PLATE_TYPES))
    assert names("Issuer states") == dict(enumerate(lb.ISSUER_STATE_NAMES))
    assert names("Job states") == dict(enumerate(lb.JOB_STATE_NAMES))
    assert names("Faults") == dict(enumerate(lb.FAULT_NAMES))
    assert names("Issuer sensor bits") == {
        lb.S_COVER_OPEN: "cover_open",
        lb.S_TRAY_OCCUPIED: "tray_occupied",
        lb.S_PLATE_AT_PRINTER: "plate_at_printer",
        lb.S_EXIT_BEAM: "exit_beam",
    }
    assert names("Board kinds") == lb.KIND_NAMES
    assert names("Vehicle signals") == dict(enumerate(lb.VEHICLE_SIGNAL_NAMES))


def test_vehicle_board_types_and_limits_are_in_the_spec():
    """The vehicle board's additions are covered by the checked tables above, not only present in the codec."""
    doc = {int(r[0], 16) for r in _tables_under("4. Message types")}
    assert {lb.SET_TACH, lb.EV_SIGNAL} <= doc
    limits = {r[0] for r in _tables_under("Limits and timing")}
    assert {"MIN_PULSES_PER_REV_X10", "MAX_PULSES_PER_REV_X10"} <= limits
    assert lb.status_fields(lb.KIND_VEHICLE_BOARD) == lb.VEHICLE_STATUS


def test_spec_examples_hold():
    text = SPEC.read_text(encoding="utf-8")
    assert "0x29B1" in text and lb.crc16(b"123456789") == 0x29B1
    assert "`03 11 22 02 33`" in text and lb.cobs_encode(bytes.fromhex("11220033")) == bytes.fromhex("0311220233")
    assert f"now `0x{lb.VERSION_BYTE:02x}`" in text


def _independent_crc(data: bytes) -> int:
    # bytewise table-free reference, written from the spec text, not from the codec
    crc = 0xFFFF
    for byte in data:
        x = ((crc >> 8) ^ byte) & 0xFF
        x ^= x >> 4
        crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
    return crc


def test_worked_example_frame_from_the_spec():
    packet = bytes([0x10, 0x01, 0x02, 0x10, 0x00])
    crc = _independent_crc(packet)
    full = packet + crc.to_bytes(2, "big")
    # COBS by hand: one zero at offset 4 -> blocks [10 01 02 10] [crc...]
    expected = bytes([5]) + full[:4] + bytes([1 + len(full[5:])]) + full[5:] + b"\x00"
    assert 0 not in full[5:]
    assert lb.encode_frame(0x0102, lb.BARRIER_OPEN, b"\x00") == expected
