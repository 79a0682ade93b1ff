"""`GnssReader`: a receiver's byte stream in, position epochs out. Pure (sans-I/O): the caller owns port and clock.

    reader = GnssReader(clock=time.time)          # live: Epoch.t is the unit's clock at completion
    for chunk in port:                            # any split, NMEA and UBX (and RTCM3) mixed
        for epoch in reader.feed(chunk):
            judge(epoch)
    reader.flush()                                # end of stream: the last epoch

Every sentence or message of one fix time is merged into one epoch (`Observation` ranks say who
wins a field: UBX NAV-PVT, then GGA, GNS, RMC, VTG for the fix; its quality and position travel
together from the one source that wins). An epoch is complete when a sentence of another fix time
begins, when u-blox's NAV-EOE ends it, or on `flush()`.

Placement: GGA, RMC, GNS and NAV-PVT carry a fix time and may open an epoch. GST (its time),
NAV-RELPOSNED and NAV-DOP (GPS time of week) join the epoch of their time, held a little while if
they come first. VTG, HDT and THS carry no time: they join the epoch open when they arrive. A
sentence for the epoch just completed is counted late and dropped; one with nowhere to go is
counted unplaced.

Date: an epoch's own (RMC with status A/D, NAV-PVT with validDate); else the last date seen
(ZDA, or an earlier epoch's), carried over midnight. Without any, the epoch has only a time of
day. Offline (no clock) `Epoch.t` is the fix time: unix seconds when the date is known, else
seconds of the day, so the output is deterministic.
"""

from __future__ import annotations

import calendar
import collections
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from exam_vehicle.gnss import nmea, ubx
from exam_vehicle.gnss.epoch import Epoch, FixQuality
from exam_vehicle.gnss.framing import Frame, Framer, FramingStats, NmeaFrame
from exam_vehicle.gnss.observation import DAY_MS, MERGED_FIELDS, Malformed, Observation

HALF_DAY_MS = DAY_MS // 2
MAX_PENDING = 8  # observations waiting for their fix time's epoch (GST or RELPOSNED ahead of it)
DEFAULT_GPS_MINUS_UTC_MS = 18_000  # leap seconds since 2017-01-01, until a NAV-PVT says otherwise
_DECODE_ERRORS = (Malformed, ValueError, IndexError, OverflowError)


@dataclass
class ReaderStats:
    """The framer's counts (sentences and messages read by type, bad checksums, truncated, garbage) and the reader's."""

    framing: FramingStats
    epochs: int = 0
    malformed: Counter[str] = field(default_factory=Counter)  # checksum good, fields unusable, by type
    no_time: int = 0  # a fix source without a usable time (a receiver without a fix sends empty times)
    late: int = 0  # for an epoch already completed
    unplaced: int = 0  # no epoch of its time (or none open) to join

    def summary(self) -> str:
        """One paragraph for a person (stderr of `passlane gnss read`)."""
        f = self.framing
        nmea = ", ".join(f"{k} {v}" for k, v in sorted(f.nmea.items()))
        ubx = ", ".join(f"{k} {v}" for k, v in sorted(f.ubx.items()))
        return (
            f"epochs {self.epochs}\n"
            f"NMEA sentences {sum(f.nmea.values())}" + (f" ({nmea})" if nmea else "") + "\n"
            f"UBX messages {sum(f.ubx.values())}" + (f" ({ubx})" if ubx else "") + "\n"
            f"RTCM3 frames {f.rtcm3_frames}\n"
            f"bad checksums {f.bad_checksum}, truncated {f.truncated}, garbage bytes {f.garbage_bytes}, "
            f"comment lines {f.comment_lines}\n"
            f"malformed {sum(self.malformed.values())}, without time {self.no_time}, late {self.late}, "
            f"unplaced {self.unplaced}"
        )


@dataclass
class _Open:
    """The epoch being assembled: each field with the rank of the source that gave it."""

    time_ms: int
    date: dt.date | None = None
    fix: Observation | None = None
    values: dict[str, tuple[int, object]] = field(default_factory=dict)
    last_source: str = ""

    def take(self, obs: Observation) -> None:
        self.last_source = obs.source
        rank = obs.rank
        if obs.quality is not None and (self.fix is None or rank < self.fix.rank):
            self.fix = obs
        if obs.date is not None and not obs.date_only and self.date is None:
            self.date = obs.date
        for name in MERGED_FIELDS:
            value = getattr(obs, name)
            if value is not None and (name not in self.values or rank < self.values[name][0]):
                self.values[name] = (rank, value)


CYCLE_LEARN = 5
"""Epochs in a row that must end with the same sentence before the reader completes epochs on it (u-blox's NAV-EOE does
this explicitly; NMEA has no end mark, and waiting for the next fix's first sentence costs a whole cycle)."""


class GnssReader:
    """Bytes in any split -> completed `Epoch`s. `comments=True` for log files, whose `#` lines are comments."""

    def __init__(self, clock: Callable[[], float] | None = None, comments: bool = False) -> None:
        self._framer = Framer(comments=comments)
        self.stats = ReaderStats(self._framer.stats)
        self._clock = clock
        self._open: _Open | None = None
        self._last_ms: int | None = None  # the fix time of the epoch completed last
        self._pending: list[Observation] = []
        self._date_ref: tuple[dt.date, int] | None = None  # (date, its time of day): carried to dateless epochs
        self._gps_minus_utc_ms = DEFAULT_GPS_MINUS_UTC_MS
        self._last_sources: collections.deque[str] = collections.deque(maxlen=CYCLE_LEARN)
        self.cycle_end: str | None = None  # the sentence that has ended every recent epoch: the epoch completes on it
        self._early = False  # the epoch behind us was completed on `cycle_end`, not by the next one

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame (bounded by `framing.MAX_BUFFERED`)."""
        return self._framer.buffered

    def feed(self, data: bytes) -> list[Epoch]:
        out: list[Epoch] = []
        for frame in self._framer.feed(data):
            self._observe(frame, out)
        return out

    def flush(self) -> list[Epoch]:
        """End of stream: what the framer still holds, then the open epoch."""
        out: list[Epoch] = []
        for frame in self._framer.flush():
            self._observe(frame, out)
        self._complete(out)
        self.stats.unplaced += len(self._pending)
        self._pending.clear()
        return out

    def _observe(self, frame: Frame, out: list[Epoch]) -> None:
        try:
            obs = nmea.decode(frame.text) if isinstance(frame, NmeaFrame) else ubx.decode(*frame)
        except _DECODE_ERRORS:
            kind = (
                frame.text.split(",", 1)[0][2:]
                if isinstance(frame, NmeaFrame)
                else f"UBX 0x{frame[0]:02x}-0x{frame[1]:02x}"
            )
            self.stats.malformed[kind] += 1
            return
        if obs is not None:
            self._place(obs, out)

    def _place(self, obs: Observation, out: list[Epoch]) -> None:
        if obs.gps_minus_utc_ms is not None:
            self._gps_minus_utc_ms = obs.gps_minus_utc_ms
        if obs.time_ms is None and obs.itow_ms is not None and not obs.opens:
            obs.time_ms = (obs.itow_ms - self._gps_minus_utc_ms) % DAY_MS
        if obs.date_only:
            if obs.date is not None and obs.time_ms is not None:
                self._date_ref = (obs.date, obs.time_ms)
            return
        current = self._open
        if obs.time_ms is None:
            if obs.opens:
                self.stats.no_time += 1
            elif current is not None and not obs.end_of_epoch:
                current.take(obs)
                self._end_of_cycle(obs, out)
            else:
                self._unlearn_cycle()
                self.stats.unplaced += 1
            return
        if current is not None and obs.time_ms == current.time_ms:
            current.take(obs)
            if obs.end_of_epoch:
                self._complete(out)
            else:
                self._end_of_cycle(obs, out)
        elif obs.time_ms == self._last_ms:
            if not obs.end_of_epoch:
                self._unlearn_cycle()
            self.stats.late += not obs.end_of_epoch  # an end mark after the next fix began says nothing new
        elif obs.opens:
            self._complete(out)
            self._open = _Open(obs.time_ms)
            self._open.take(obs)
            self._take_pending()
        elif not obs.end_of_epoch:
            self._hold(obs)

    def _hold(self, obs: Observation) -> None:
        self._pending.append(obs)
        if len(self._pending) > MAX_PENDING:
            del self._pending[0]
            self.stats.unplaced += 1

    def _take_pending(self) -> None:
        """Those of the new epoch's time join it; those of a time already behind it never will (unplaced)."""
        assert self._open is not None
        keep = []
        for obs in self._pending:
            ahead = (obs.time_ms - self._open.time_ms) % DAY_MS  # type: ignore[operator]
            if ahead == 0:
                self._open.take(obs)
            elif ahead < HALF_DAY_MS:
                keep.append(obs)
            else:
                self.stats.unplaced += 1
        self._pending = keep

    def _end_of_cycle(self, obs: Observation, out: list[Epoch]) -> None:
        """The receiver's cycle ends with the same sentence every time: complete the epoch on it, not a cycle later."""
        if self.cycle_end is not None and obs.source == self.cycle_end:
            self._complete(out, early=True)

    def _unlearn_cycle(self) -> None:
        """Something of an epoch came after the sentence thought to end it: wait for the next fix again and relearn."""
        if self._early:
            self.cycle_end = None
            self._last_sources.clear()

    def _complete(self, out: list[Epoch], early: bool = False) -> None:
        done, self._open = self._open, None
        if done is None:
            return
        self._early = early
        if not early:
            self._last_sources.append(done.last_source)
            if len(self._last_sources) == CYCLE_LEARN and len(set(self._last_sources)) == 1:
                self.cycle_end = done.last_source
        self._last_ms = done.time_ms
        out.append(self._epoch(done))
        self.stats.epochs += 1

    def _epoch(self, e: _Open) -> Epoch:
        date = e.date if e.date is not None else self._carried_date(e.time_ms)
        if date is not None:
            self._date_ref = (date, e.time_ms)
        ms = e.time_ms
        clock = f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
        if date is not None:
            time = f"{date.isoformat()}T{clock}Z"
            t = calendar.timegm(date.timetuple()) + ms / 1000.0
        else:
            time, t = clock, ms / 1000.0
        fix = e.fix
        valid = fix is not None and fix.quality is not FixQuality.INVALID
        v = {name: value for name, (_, value) in e.values.items()}
        if not valid:
            for name in ("speed_mps", "course_deg", "heading_deg", "h_acc_m"):
                v.pop(name, None)
        return Epoch(
            t=self._clock() if self._clock is not None else t,
            time=time,
            lat=fix.lat if valid and fix else None,
            lon=fix.lon if valid and fix else None,
            alt=fix.alt if valid and fix else None,
            quality=fix.quality if fix is not None and fix.quality is not None else FixQuality.INVALID,
            **v,
        )

    def _carried_date(self, time_ms: int) -> dt.date | None:
        if self._date_ref is None:
            return None
        date, ref_ms = self._date_ref
        if time_ms < ref_ms - HALF_DAY_MS:
            return date + dt.timedelta(days=1)
        if time_ms > ref_ms + HALF_DAY_MS:
            return date - dt.timedelta(days=1)
        return date
