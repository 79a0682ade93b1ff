"""NMEA 0183 sentences -> `Observation`: GGA, RMC, VTG, GNS, GST, HDT, THS (and ZDA for the date), any talker.

The fix quality each sentence states, in the exam's words (`FixQuality`):

- GGA quality: 0 invalid, 1 gps, 2 dgps, 3 (PPS: the precise-code service, an autonomous fix) gps,
  4 rtk_fixed, 5 rtk_float, 6 dead_reckoning, 7 (manual input) and 8 (simulator) invalid,
  9 (SBAS on some receivers) dgps; anything else invalid.
- Mode letters (RMC field 12, GNS one per constellation, VTG field 9): N invalid, A gps, D dgps,
  P (precise, like GGA 3) gps, R rtk_fixed, F rtk_float, E dead_reckoning, M/S (manual, simulator)
  invalid. GNS takes the best constellation's letter; a GNS navigation status U (unsafe) or V (not
  valid) makes it invalid.
- RMC status V is invalid whatever its mode; without a mode field (NMEA < 2.3) A is gps, D dgps.

A source stating an invalid fix gives no position, speed or course (what it repeats then is stale).
A sentence stating a fix without a usable position is malformed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable

from exam_vehicle.gnss.epoch import FixQuality
from exam_vehicle.gnss.observation import DAY_MS, Malformed, Observation

Q = FixQuality
KNOT_MPS = 1852.0 / 3600.0

GGA_QUALITY: dict[str, FixQuality] = {
    "0": Q.INVALID,
    "1": Q.GPS,
    "2": Q.DGPS,
    "3": Q.GPS,
    "4": Q.RTK_FIXED,
    "5": Q.RTK_FLOAT,
    "6": Q.DEAD_RECKONING,
    "7": Q.INVALID,
    "8": Q.INVALID,
    "9": Q.DGPS,
}
MODE_QUALITY: dict[str, FixQuality] = {
    "N": Q.INVALID,
    "A": Q.GPS,
    "D": Q.DGPS,
    "P": Q.GPS,
    "R": Q.RTK_FIXED,
    "F": Q.RTK_FLOAT,
    "E": Q.DEAD_RECKONING,
    "M": Q.INVALID,
    "S": Q.INVALID,
}
# Best first: what a receiver that mixes constellations (GNS) achieved with its best one.
QUALITY_ORDER = (Q.RTK_FIXED, Q.RTK_FLOAT, Q.DGPS, Q.GPS, Q.DEAD_RECKONING, Q.INVALID)

_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d{0,9}))?\Z")
_ANGLE = re.compile(r"(\d{1,3})(\d\d(?:\.\d*)?)\Z")
_DDMMYY = re.compile(r"(\d\d)(\d\d)(\d\d)\Z")


def time_ms(field: str) -> int | None:
    """hhmmss[.sss] -> milliseconds of the day (None when empty)."""
    if not field:
        return None
    m = _TIME.match(field)
    if not m:
        raise Malformed(f"time {field!r}")
    h, mi, s = int(m[1]), int(m[2]), int(m[3])
    if h > 23 or mi > 59 or s > 60:
        raise Malformed(f"time {field!r}")
    frac = m[4] or ""
    ms = (int(frac) * 1000 + 10 ** len(frac) // 2) // 10 ** len(frac) if frac else 0
    return min(((h * 60 + mi) * 60 + s) * 1000 + ms, DAY_MS - 1)


def date_ddmmyy(field: str) -> dt.date | None:
    """RMC's ddmmyy; years 80-99 are 1980-1999 (GPS began in 1980), 00-79 are 2000-2079."""
    m = _DDMMYY.match(field)
    if not m:
        return None
    yy = int(m[3])
    try:
        return dt.date(1900 + yy if yy >= 80 else 2000 + yy, int(m[2]), int(m[1]))
    except ValueError:
        return None


def angle(value: str, hemisphere: str, max_deg: int) -> float | None:
    """(D)DDMM.mmmm + N/S/E/W -> signed degrees; the integer and fraction are read apart, as gpsd does."""
    if not value and not hemisphere:
        return None
    m = _ANGLE.match(value)
    if not m or hemisphere not in ("N", "S", "E", "W"):
        raise Malformed(f"angle {value!r} {hemisphere!r}")
    degrees, minutes = int(m[1]), float(m[2])
    if minutes >= 60.0 or degrees + minutes / 60.0 > max_deg:
        raise Malformed(f"angle {value!r}")
    deg = degrees + minutes / 60.0
    return -deg if hemisphere in ("S", "W") else deg


def number(field: str) -> float | None:
    if not field:
        return None
    try:
        x = float(field)
    except ValueError:
        raise Malformed(f"number {field!r}") from None
    if not math.isfinite(x):
        raise Malformed(f"number {field!r}")
    return x


def integer(field: str) -> int | None:
    if not field:
        return None
    if not field.isdigit() or len(field) > 4:
        raise Malformed(f"integer {field!r}")
    return int(field)


def degrees(field: str) -> float | None:
    x = number(field)
    if x is None:
        return None
    if not -360.0 <= x <= 720.0:
        raise Malformed(f"direction {field!r}")
    return x % 360.0


def _position(obs: Observation, f: list[str], i: int) -> None:
    """Fields i..i+3 (lat, N/S, lon, E/W) into obs; a fix without a position is malformed."""
    obs.lat = angle(f[i], f[i + 1], 90)
    obs.lon = angle(f[i + 2], f[i + 3], 180)
    if (obs.lat is None) != (obs.lon is None):
        raise Malformed("half a position")
    if obs.lat is None and obs.quality is not Q.INVALID:
        raise Malformed("a fix without a position")


def _field(f: list[str], i: int) -> str:
    return f[i] if i < len(f) else ""


def gga(f: list[str]) -> Observation:
    if len(f) < 7:
        raise Malformed("short GGA")
    obs = Observation("GGA", time_ms=time_ms(f[1]), opens=True)
    obs.quality = GGA_QUALITY.get(f[6], Q.INVALID)
    obs.sats = integer(_field(f, 7))
    obs.hdop = number(_field(f, 8))
    if obs.quality is not Q.INVALID:
        _position(obs, f, 2)
        obs.alt = number(_field(f, 9))
    return obs


def rmc(f: list[str]) -> Observation:
    if len(f) < 10:
        raise Malformed("short RMC")
    obs = Observation("RMC", time_ms=time_ms(f[1]), opens=True)
    status, mode = f[2], _field(f, 12)
    if status not in ("A", "D"):
        obs.quality = Q.INVALID
        return obs  # gpsd too trusts neither the date nor anything else of a V sentence
    obs.quality = MODE_QUALITY.get(mode, Q.INVALID) if mode else (Q.DGPS if status == "D" else Q.GPS)
    obs.date = date_ddmmyy(f[9])
    if obs.quality is not Q.INVALID:
        _position(obs, f, 3)
        obs.speed_mps = _knots(f[7])
        obs.course_deg = degrees(f[8])
    return obs


def _knots(field: str) -> float | None:
    x = number(field)
    if x is not None and x < 0:
        raise Malformed(f"speed {field!r}")
    return None if x is None else x * KNOT_MPS


def vtg(f: list[str]) -> Observation:
    if len(f) < 9 or f[2] != "T":  # the pre-NMEA-2.0 form without unit letters is not read
        raise Malformed("short VTG")
    obs = Observation("VTG")
    mode = _field(f, 9)
    if mode and MODE_QUALITY.get(mode, Q.INVALID) is Q.INVALID:
        return obs
    obs.course_deg = degrees(f[1])
    obs.speed_mps = _knots(f[5])
    if obs.speed_mps is None:
        kmh = number(f[7])
        obs.speed_mps = None if kmh is None else kmh / 3.6
    return obs


def gns(f: list[str]) -> Observation:
    if len(f) < 10:
        raise Malformed("short GNS")
    obs = Observation("GNS", time_ms=time_ms(f[1]), opens=True)
    modes = {MODE_QUALITY.get(c, Q.INVALID) for c in f[6]}
    obs.quality = next((q for q in QUALITY_ORDER if q in modes), Q.INVALID)
    if _field(f, 13) in ("U", "V"):
        obs.quality = Q.INVALID
    obs.sats = integer(f[7])
    obs.hdop = number(f[8])
    if obs.quality is not Q.INVALID:
        _position(obs, f, 2)
        obs.alt = number(f[9])
    return obs


def gst(f: list[str]) -> Observation:
    """Horizontal accuracy: the root sum square of the latitude and longitude error deviations (u-blox's hAcc)."""
    if len(f) < 8:
        raise Malformed("short GST")
    obs = Observation("GST", time_ms=time_ms(f[1]))
    lat_sd, lon_sd = number(f[6]), number(f[7])
    major, minor = number(f[3]), number(f[4])
    if lat_sd is not None and lon_sd is not None:
        obs.h_acc_m = math.hypot(lat_sd, lon_sd)
    elif major is not None and minor is not None:
        obs.h_acc_m = math.hypot(major, minor)
    return obs


def hdt(f: list[str]) -> Observation:
    return Observation("HDT", heading_deg=degrees(_field(f, 1)))


def ths(f: list[str]) -> Observation:
    """True heading with a mode: only A (autonomous) is a measured heading; E, M, S, V are not."""
    obs = Observation("THS")
    if _field(f, 2) == "A":
        obs.heading_deg = degrees(f[1])
    return obs


def zda(f: list[str]) -> Observation:
    if len(f) < 5:
        raise Malformed("short ZDA")
    obs = Observation("ZDA", time_ms=time_ms(f[1]), date_only=True)
    day, month, year = integer(f[2]), integer(f[3]), integer(f[4])
    if day is not None and month is not None and year is not None and obs.time_ms is not None:
        try:
            obs.date = dt.date(year, month, day)
        except ValueError:
            raise Malformed("ZDA date") from None
    return obs


DECODERS: dict[str, Callable[[list[str]], Observation]] = {
    "GGA": gga,
    "RMC": rmc,
    "VTG": vtg,
    "GNS": gns,
    "GST": gst,
    "HDT": hdt,
    "THS": ths,
    "ZDA": zda,
}


def decode(text: str) -> Observation | None:
    """One checksum-good sentence (text between '$' and '*') -> its observation; None for types not read."""
    fields = text.split(",")
    address = fields[0]
    if len(address) != 5 or address[0] == "P":
        return None
    decoder = DECODERS.get(address[2:])
    return decoder(fields) if decoder else None
