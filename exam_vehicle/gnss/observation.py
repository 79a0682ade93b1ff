"""`Observation`: what one NMEA sentence or UBX message says about one fix, before the epoch merges them.

Each decoder (`nmea.py`, `ubx.py`) turns one checksum-good frame into at most
one observation; the reader (`reader.py`) places it in the epoch of its fix
time and merges field by field. A field left None says nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from exam_vehicle.gnss.epoch import FixQuality

DAY_MS = 86_400_000

# Which source wins a field when several in one epoch give it: the lowest rank; among equals, the first.
# UBX first (the receiver's own binary, full resolution, explicit carrier-solution flags), then GGA (the
# sentence built to carry fix quality), GNS (per-constellation modes), RMC, VTG; heading: RELPOSNED (with
# its validity flags), THS (with a mode), HDT (none); accuracy: NAV-PVT hAcc, then GST.
RANK: dict[str, int] = {
    "NAV-PVT": 0,
    "NAV-DOP": 0,
    "NAV-RELPOSNED": 0,
    "GGA": 1,
    "GST": 1,
    "THS": 1,
    "GNS": 2,
    "HDT": 2,
    "RMC": 3,
    "VTG": 4,
}


class Malformed(ValueError):
    """A checksum-good frame whose fields make no sense (counted as malformed, never raised out of the reader)."""


@dataclass(slots=True)
class Observation:
    """One source's statement about one fix. `quality` set means it states the fix (with lat/lon/alt as a unit)."""

    source: str
    time_ms: int | None = None  # fix time, milliseconds of the UTC day
    itow_ms: int | None = None  # GPS time of week (UBX): places messages that carry no UTC time
    opens: bool = False  # a fix time of its own (GGA, RMC, GNS, NAV-PVT): may begin a new epoch
    date: dt.date | None = None  # the fix's UTC date, when this source gives one
    date_only: bool = False  # ZDA: a date reference for later fixes, nothing about a fix
    end_of_epoch: bool = False  # NAV-EOE: nothing more will come for this fix
    gps_minus_utc_ms: int | None = None  # learnt from NAV-PVT (GPS time of week against UTC)
    quality: FixQuality | None = None
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    sats: int | None = None
    hdop: float | None = None
    speed_mps: float | None = None
    course_deg: float | None = None
    heading_deg: float | None = None
    h_acc_m: float | None = None

    @property
    def rank(self) -> int:
        return RANK.get(self.source, 9)


MERGED_FIELDS = ("sats", "hdop", "speed_mps", "course_deg", "heading_deg", "h_acc_m")
