"""The reader agrees with gpsd on every shared receiver log: for each gpsd TPV record with a time and a position,
the reader's epoch of that time has the same position (within 1e-6 degrees) and the same fix quality.

gpsd's TPV -> our words: mode 0/1 (no fix) prints no position, so it is `invalid`; with mode 2/3,
status 2 dgps, 3 rtk_fixed, 4 rtk_float, 5 dead_reckoning, 6 (GNSS + dead reckoning) dead_reckoning,
7 (time only, surveyed) and 8 (simulated) invalid, 9 (PPS) gps; status 0 or 1 are not printed at all
(gpsd prints status only from 2 on), so a TPV with a position and no status is gps.

Where gpsd reports no fix (mode 0/1; these TPVs carry no time, so the fix time is that of the last
sentence gpsd echoed before them in the `.chk`), our epoch is invalid, except where gpsd is wrong: that
one case is pinned below with the reason.

gpsd also prints TPVs with a position but no time (before it knew a date, e.g. a GGA ahead of the first
RMC, or when a sentence without a time, like GSA, caused the record). They cannot be matched by time; each must still equal one of our epochs in position and
quality. The numbers of records compared are pinned so that the comparison can never become empty.
"""

from __future__ import annotations

import json
import re

import pytest
from gnss_helpers import LOGS, dataset, log_bytes, read_all

from exam_vehicle.gnss import Epoch, FixQuality

Q = FixQuality
GPSD_STATUS = {
    2: Q.DGPS,
    3: Q.RTK_FIXED,
    4: Q.RTK_FLOAT,
    5: Q.DEAD_RECKONING,
    6: Q.DEAD_RECKONING,
    7: Q.INVALID,
    8: Q.INVALID,
    9: Q.GPS,
}
# log -> (TPVs with time and position, untimed TPVs with a position)
COMPARED = {
    "beidou-bd.log": (12, 3),
    "haicom-305N.log": (246, 2),
    "quectel-L70.log": (51, 0),
    "skytraq-PX1172RH_DS.log": (13, 6),
    "ublox-neo-m8n.log": (22, 0),
    "ublox-zed-f9p-nmea.log": (35, 0),
    "ublox-zed-f9r.log": (58, 0),
}


def gpsd_quality(tpv: dict) -> FixQuality:
    if tpv.get("mode", 0) < 2:
        return Q.INVALID
    return GPSD_STATUS.get(tpv.get("status", 1), Q.GPS)


def gpsd_tpvs(name: str) -> list[dict]:
    """The TPV records of gpsd's output (`.chk`: gpsd's JSON lines between the raw sentences it echoes)."""
    out = []
    for line in (dataset() / f"{name}.chk").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("class") == "TPV":
                out.append(record)
    return out


def same(epoch: Epoch, tpv: dict) -> bool:
    return (
        epoch.quality is gpsd_quality(tpv)
        and epoch.lat is not None
        and epoch.lon is not None
        and abs(epoch.lat - tpv["lat"]) <= 1e-6
        and abs(epoch.lon - tpv["lon"]) <= 1e-6
    )


def test_the_dataset_holds_exactly_the_logs_these_tests_know():
    on_disk = sorted(p.name for p in dataset().glob("*.log"))
    assert on_disk == sorted(LOGS), "a log was added or removed: add it to gnss_helpers.LOGS and COMPARED"
    assert all((dataset() / f"{name}.chk").is_file() for name in LOGS)


@pytest.mark.parametrize("name", LOGS)
def test_every_timed_gpsd_fix_has_our_epoch_of_that_time_with_the_same_position_and_quality(name):
    epochs, _ = read_all(log_bytes(name))
    by_time = {e.time: e for e in epochs}
    assert len(by_time) == len(epochs), "two epochs of one fix time"
    timed = [t for t in gpsd_tpvs(name) if "time" in t and "lat" in t]
    disagreements = [
        (t["time"], gpsd_quality(t).value, t["lat"], t["lon"], by_time.get(t["time"]))
        for t in timed
        if t["time"] not in by_time or not same(by_time[t["time"]], t)
    ]
    assert disagreements == []
    assert len(timed) == COMPARED[name][0]


@pytest.mark.parametrize("name", LOGS)
def test_gpsd_fixes_without_a_time_match_one_of_our_epochs(name):
    epochs, _ = read_all(log_bytes(name))
    untimed = [t for t in gpsd_tpvs(name) if "time" not in t and "lat" in t]
    assert [t for t in untimed if not any(same(e, t) for e in epochs)] == []
    assert len(untimed) == COMPARED[name][1]


def gpsd_no_fix_times(name: str) -> list[str]:
    """The fix time (HH:MM:SS.sss) of each gpsd TPV with mode 0/1. These carry no time of their own; the `.chk`
    echoes each raw sentence before the records it caused, so the last GGA/RMC/GNS echoed names the fix time."""
    out, last = [], None
    for line in (dataset() / f"{name}.chk").read_text(errors="replace").splitlines():
        m = TIMED_ECHO.match(line)
        if m:
            last = f"{m[1]}:{m[2]}:{float(m[3]):06.3f}"
        elif line.startswith("{") and last is not None:
            record = json.loads(line)
            if record.get("class") == "TPV" and record.get("mode", 0) < 2:
                out.append(last)
    return out


TIMED_ECHO = re.compile(r"\$..(?:GGA|RMC|GNS),(\d\d)(\d\d)(\d\d(?:\.\d+)?),")
NO_FIX_COMPARED = {"beidou-bd.log": 17, "haicom-305N.log": 20}
# Where gpsd is wrong, and why. The Haicom (SiRF-II) sends at 09:53:04.802 a GGA with quality 1 and "00"
# satellites used, then a GSA naming the 3 satellites of a 2D fix. gpsd's GGA handler treats fewer than 3
# satellites as no fix and prints mode 1; after the GSA it prints the same fix as mode 2 with its position
# (an untimed TPV, which our epoch matches above). The receiver had a fix; gpsd's mode 1 is its own heuristic
# fooled by SiRF's satellite count.
GPSD_WRONG_NO_FIX = {("haicom-305N.log", "09:53:04.802")}


@pytest.mark.parametrize("name", LOGS)
def test_where_gpsd_reports_no_fix_our_epoch_of_that_time_is_invalid(name):
    epochs, _ = read_all(log_bytes(name))
    by_time_of_day = {e.time.split("T")[-1].rstrip("Z"): e for e in epochs}
    no_fix = gpsd_no_fix_times(name)
    valid = {(name, t) for t in no_fix if by_time_of_day[t].quality is not Q.INVALID}
    assert valid == {w for w in GPSD_WRONG_NO_FIX if w[0] == name}
    assert len(no_fix) == NO_FIX_COMPARED.get(name, 0)
