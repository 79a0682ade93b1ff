"""Test helpers for the GNSS reader: sentences and UBX frames built here (checksums computed independently of
the reader's own code), the shared receiver logs, and reading a whole byte string.

The logs are gpsd's regression logs (BSD-2-Clause, copyright the GPSD project; see COPYING in the
dataset folder). They are read from the shared folder beside the repository, never copied here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from exam_vehicle.gnss import Epoch
from exam_vehicle.gnss.reader import GnssReader

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "datasets" / "gnss-logs-gpsd-bsd2"
LOGS = (
    "beidou-bd.log",
    "haicom-305N.log",
    "quectel-L70.log",
    "skytraq-PX1172RH_DS.log",
    "ublox-neo-m8n.log",
    "ublox-zed-f9p-nmea.log",
    "ublox-zed-f9r.log",
)


def dataset() -> Path:
    """The shared logs' folder; a clear failure (not a skip) when it is missing: CI runs where it exists."""
    assert DATASET.is_dir(), (
        f"the shared GNSS logs are missing: expected {DATASET} (shared/datasets/gnss-logs-gpsd-bsd2 beside the "
        "repository). These tests compare the reader with gpsd on them and must not pass without them."
    )
    return DATASET


def log_bytes(name: str) -> bytes:
    return (dataset() / name).read_bytes()


def nmea(body: str) -> bytes:
    """'GPGGA,...' -> '$GPGGA,...*hh\\r\\n' with its checksum."""
    x = 0
    for ch in body.encode("ascii"):
        x ^= ch
    return f"${body}*{x:02X}\r\n".encode("ascii")


def ubx(cls: int, mid: int, payload: bytes) -> bytes:
    """A UBX frame with its 8-bit Fletcher checksum, computed the plain way."""
    body = bytes([cls, mid]) + struct.pack("<H", len(payload)) + payload
    a = b = 0
    for byte in body:
        a = (a + byte) & 0xFF
        b = (b + a) & 0xFF
    return b"\xb5\x62" + body + bytes([a, b])


def nav_pvt(
    *,
    itow: int = 0,
    date: tuple[int, int, int] = (2024, 5, 20),
    hms: tuple[int, int, int] = (3, 4, 5),
    nano: int = 0,
    valid: int = 0x37,
    fix_type: int = 3,
    flags: int = 0x01,
    num_sv: int = 20,
    lat: float = 31.2304,
    lon: float = 121.4737,
    h_msl_mm: int = 12_345,
    h_acc_mm: int = 14,
    g_speed_mm: int = 1500,
    head_mot: float = 90.0,
    flags3: int = 0,
) -> bytes:
    """A 92-byte UBX-NAV-PVT frame (u-blox 8/9 layout)."""
    y, mo, d = date
    h, mi, s = hms
    payload = struct.pack(
        "<IHBBBBBBIiBBBBiiiiIIiiiiiIIHH",
        itow,
        y,
        mo,
        d,
        h,
        mi,
        s,
        valid,
        20,
        nano,
        fix_type,
        flags,
        0xEA,
        num_sv,
        round(lon * 1e7),
        round(lat * 1e7),
        h_msl_mm + 10_000,
        h_msl_mm,
        h_acc_mm,
        20,
        0,
        0,
        0,
        g_speed_mm,
        round(head_mot * 1e5),
        100,
        500_000,
        120,
        flags3,
    ) + bytes(12)
    assert len(payload) == 92
    return ubx(0x01, 0x07, payload)


def itow_of(hms: tuple[int, int, int], ms: int = 0, weekday: int = 1, leap_s: int = 18) -> int:
    """GPS time of week (ms) of a UTC time of day on a given weekday (0 = Sunday)."""
    h, mi, s = hms
    return (weekday * 86_400 + h * 3600 + mi * 60 + s + leap_s) * 1000 + ms


def nav_relposned(*, itow: int, heading: float, flags: int = 0x105 | 0x02 | (2 << 3), version: int = 1) -> bytes:
    """A 64-byte UBX-NAV-RELPOSNED (version 1): the baseline's heading and its flags (default: gnssFixOK,
    diffSoln, relPosValid, carrSoln fixed, relPosHeadingValid)."""
    payload = struct.pack("<BBHIiiiiiI", version, 0, 0, itow, 100, 50, -3, 112, round(heading * 1e5), 0)
    payload += bytes(4) + struct.pack("<IIIIIII", 10, 10, 20, 10, 20_000, 0, flags)
    assert len(payload) == 64
    return ubx(0x01, 0x3C, payload)


def read_all(data: bytes | Iterable[bytes], comments: bool = True) -> tuple[list[Epoch], GnssReader]:
    """Every epoch of a byte string (or of its chunks, fed in order), and the reader for its stats."""
    reader = GnssReader(comments=comments)
    chunks = [data] if isinstance(data, bytes) else data
    epochs = [e for chunk in chunks for e in reader.feed(chunk)]
    return epochs + reader.flush(), reader
