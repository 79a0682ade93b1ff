"""`passlane gnss read SOURCE [--json]`: read a receiver's log or live port and print its epochs.

SOURCE is a log file (the bytes as logged; `#` lines are comments) or a pyserial URL
(`/dev/ttyACM0`, `socket://host:port`, anything `serial.serial_for_url` opens). A log's epochs
are stamped with their fix time, so the output is the same on every run; a live port's with this
machine's clock. At the end the counts of what was read and skipped go to stderr. Exit status 0
for a readable source (a port that closes ends the stream), 2 when it cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from exam_vehicle.gnss.epoch import Epoch
from exam_vehicle.gnss.reader import GnssReader

CHUNK = 65536
JSON_FIELDS = ("time", "lat", "lon", "alt", "quality", "sats", "hdop", "speed_mps", "course_deg")


class SourceError(Exception):
    """The source could not be opened (exit status 2)."""


def is_port(source: str) -> bool:
    """A pyserial URL or device, not a log file."""
    return "://" in source or source.startswith("/dev/")


def open_source(source: str, baudrate: int = 115200) -> Iterator[bytes]:
    """Open SOURCE now (SourceError if it cannot be) and return its bytes as they come, chunk by chunk."""
    if not is_port(source):
        try:
            fh = open(source, "rb")  # noqa: SIM115 - the generator closes it
        except OSError as e:
            raise SourceError(f"cannot open {source}: {e.strerror or e}") from None
        return _file_chunks(fh)
    import serial  # pyserial: only for live sources

    try:
        port = serial.serial_for_url(source, baudrate=baudrate, timeout=0.05)
    except (serial.SerialException, ValueError, OSError) as e:
        raise SourceError(f"cannot open {source}: {e}") from None
    return _port_chunks(port)


def _file_chunks(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _port_chunks(port: Any) -> Iterator[bytes]:
    import serial

    with port:
        while True:
            try:
                # What is waiting, at least one byte (blocking up to the timeout). Never more: pyserial's socket://
                # drops what one read() had gathered when the peer hangs up during it (its in_waiting says 1, so a
                # socket is read a byte at a time; a serial device reports its real count).
                chunk = port.read(max(1, port.in_waiting))
            except serial.SerialException:
                return  # the port closed (a socket:// peer hung up, a USB receiver was unplugged)
            if chunk:
                yield chunk


def json_line(epoch: Epoch) -> str:
    """One epoch as `--json` prints it: the fixed fields, and heading_deg only when the receiver gave one."""
    d = epoch.model_dump(mode="json")
    out: dict[str, Any] = {k: d[k] for k in JSON_FIELDS}
    if epoch.heading_deg is not None:
        out["heading_deg"] = epoch.heading_deg
    return json.dumps(out, separators=(",", ":"))


HEADER = f"{'time':<24} {'quality':<14} {'lat':>14} {'lon':>15} {'alt':>9} {'sats':>4} {'hdop':>5} {'m/s':>6} {'course':>6} {'heading':>7}"


def table_line(e: Epoch) -> str:
    def f(x: float | None, spec: str, width: int) -> str:
        return f"{x:{width}{spec}}" if x is not None else " " * (width - 1) + "-"

    return (
        f"{e.time:<24} {e.quality.value:<14} {f(e.lat, '.9f', 14)} {f(e.lon, '.9f', 15)} {f(e.alt, '.3f', 9)} "
        f"{f(e.sats, 'd', 4)} {f(e.hdop, '.2f', 5)} {f(e.speed_mps, '.2f', 6)} {f(e.course_deg, '.1f', 6)} "
        f"{f(e.heading_deg, '.2f', 7)}"
    )


def _read(ns: argparse.Namespace) -> int:
    live = is_port(ns.source)
    try:
        chunks = open_source(ns.source, ns.baudrate)
    except SourceError as e:
        print(f"passlane gnss read: {e}", file=sys.stderr)
        return 2
    if live:  # after the open (which discards what arrived before it): from here on nothing is lost
        print(f"reading {ns.source} until it closes (Ctrl-C to stop)", file=sys.stderr, flush=True)
    reader = GnssReader(clock=time.time if live else None, comments=not live)
    show = json_line if ns.json else table_line
    if not ns.json:
        print(HEADER)
    try:
        try:
            for chunk in chunks:
                for epoch in reader.feed(chunk):
                    print(show(epoch), flush=live)
        except KeyboardInterrupt:
            pass
        for epoch in reader.flush():
            print(show(epoch), flush=live)
    except BrokenPipeError:  # `| head`: the reader of our output has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(reader.stats.summary(), file=sys.stderr)
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gnss", metavar="COMMAND")
    p = sub.add_parser("read", help="print the epochs of a receiver log or a live port (NMEA and UBX mixed)")
    p.add_argument("source", metavar="SOURCE", help="a log file, or a pyserial URL: /dev/ttyACM0, socket://host:port")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per epoch (time, lat, lon, alt, quality, sats, "
        "hdop, speed_mps, course_deg, heading_deg when given)",
    )
    p.add_argument(
        "--baudrate", type=int, default=115200, help="for a serial device (ignored by socket:// and USB CDC)"
    )
    p.set_defaults(func=_read)
