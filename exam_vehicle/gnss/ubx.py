"""u-blox UBX messages -> `Observation`: NAV-PVT (the fix), NAV-RELPOSNED (dual-antenna heading), NAV-DOP, NAV-EOE.

NAV-PVT's fix quality: no gnssFixOK flag, fixType 0 (no fix) or 5 (time only: a surveyed-in
timing receiver, no position for a moving car) or the invalidLlh flag: invalid; fixType 1 (dead
reckoning only): dead_reckoning; fixType 2, 3 or 4 (2D, 3D, GNSS + dead reckoning): carrSoln 2
rtk_fixed, 1 rtk_float, else diffSoln dgps, else gps.

NAV-RELPOSNED (version 1, 64 bytes; the 40-byte version 0 of the M8P has no heading) gives the
heading of the baseline from the moving-base antenna to the rover antenna, taken only when
gnssFixOK, relPosValid and relPosHeadingValid are all set. It carries only GPS time of week; the
reader places it with the GPS-UTC offset learnt from NAV-PVT.
"""

from __future__ import annotations

import datetime as dt
import struct

from exam_vehicle.gnss.epoch import FixQuality
from exam_vehicle.gnss.observation import DAY_MS, Malformed, Observation

Q = FixQuality
NAV = 0x01
NAV_DOP, NAV_PVT, NAV_RELPOSNED, NAV_EOE = 0x04, 0x07, 0x3C, 0x61
WEEK_MS = 7 * DAY_MS

_PVT = struct.Struct("<IHBBBBBBIiBBBBiiiiIIiiiiiIIHH")  # the first 80 bytes (u-blox 8/9: 92; 6/7: 84)


def nav_pvt(p: bytes) -> Observation:
    if len(p) < 84:
        raise Malformed("short NAV-PVT")
    (
        itow,
        year,
        month,
        day,
        hour,
        minute,
        sec,
        valid,
        _t_acc,
        nano,
        fix_type,
        flags,
        _flags2,
        num_sv,
        lon,
        lat,
        _height,
        h_msl,
        h_acc,
        _v_acc,
        _vel_n,
        _vel_e,
        _vel_d,
        g_speed,
        head_mot,
        _s_acc,
        _head_acc,
        _pdop,
        flags3,
    ) = _PVT.unpack_from(p)
    obs = Observation("NAV-PVT", itow_ms=itow, opens=True, sats=num_sv)
    if valid & 0x02 and hour < 24 and minute < 60 and sec <= 60:
        tod = ((hour * 60 + minute) * 60 + sec) * 1000 + round(nano / 1e6)
        date = _date(year, month, day) if valid & 0x01 else None
        if tod < 0 or tod >= DAY_MS:
            date = date + dt.timedelta(days=-1 if tod < 0 else 1) if date else None
            tod %= DAY_MS
        obs.time_ms, obs.date = tod, date
        if valid & 0x07 == 0x07 and itow < WEEK_MS:
            obs.gps_minus_utc_ms = round(((itow - tod) % DAY_MS) / 1000) * 1000
    obs.quality = _pvt_quality(fix_type, flags, flags3)
    if obs.quality is not Q.INVALID:
        obs.lat, obs.lon, obs.alt = lat / 1e7, lon / 1e7, h_msl / 1000.0
        if not (-90.0 <= obs.lat <= 90.0 and -180.0 <= obs.lon <= 180.0):
            raise Malformed("NAV-PVT position out of range")
        obs.h_acc_m = h_acc / 1000.0
        obs.speed_mps = max(g_speed, 0) / 1000.0
        obs.course_deg = (head_mot / 1e5) % 360.0
    return obs


def _pvt_quality(fix_type: int, flags: int, flags3: int) -> FixQuality:
    if not flags & 0x01 or flags3 & 0x01 or fix_type not in (1, 2, 3, 4):
        return Q.INVALID
    if fix_type == 1:
        return Q.DEAD_RECKONING
    carr_soln = (flags >> 6) & 0x03
    if carr_soln == 2:
        return Q.RTK_FIXED
    if carr_soln == 1:
        return Q.RTK_FLOAT
    return Q.DGPS if flags & 0x02 else Q.GPS


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def nav_relposned(p: bytes) -> Observation:
    if len(p) < 40:
        raise Malformed("short NAV-RELPOSNED")
    itow = int.from_bytes(p[4:8], "little")
    obs = Observation("NAV-RELPOSNED", itow_ms=itow)
    if p[0] >= 0x01 and len(p) >= 64:
        flags = int.from_bytes(p[60:64], "little")
        if flags & 0x105 == 0x105:  # gnssFixOK, relPosValid, relPosHeadingValid
            obs.heading_deg = (int.from_bytes(p[24:28], "little", signed=True) / 1e5) % 360.0
    return obs


def nav_dop(p: bytes) -> Observation:
    if len(p) < 18:
        raise Malformed("short NAV-DOP")
    return Observation(
        "NAV-DOP", itow_ms=int.from_bytes(p[0:4], "little"), hdop=int.from_bytes(p[12:14], "little") / 100.0
    )


def nav_eoe(p: bytes) -> Observation:
    if len(p) < 4:
        raise Malformed("short NAV-EOE")
    return Observation("NAV-EOE", itow_ms=int.from_bytes(p[0:4], "little"), end_of_epoch=True)


DECODERS = {NAV_PVT: nav_pvt, NAV_RELPOSNED: nav_relposned, NAV_DOP: nav_dop, NAV_EOE: nav_eoe}


def decode(cls: int, mid: int, payload: bytes) -> Observation | None:
    """One checksum-good UBX frame -> its observation; None for messages not read."""
    decoder = DECODERS.get(mid) if cls == NAV else None
    return decoder(payload) if decoder else None
