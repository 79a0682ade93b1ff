"""The exam vehicle's part of `passlane doctor`: its config loader, its vehicle board, and its GNSS receiver."""

from __future__ import annotations

import time
from pathlib import Path

from edge.doctor import Check, Result, Status, common_checks
from exam_vehicle.config import ExamVehicleConfig
from exam_vehicle.config import load_config as load_config

__all__ = ["checks", "gnss_result", "load_config"]

GNSS_WAIT_S = 5.0


def gnss_result(url: str, baud: int, wait_s: float = GNSS_WAIT_S) -> Result:
    """Bytes arrive from the receiver and at least one position epoch parses within `wait_s`."""
    import serial

    from exam_vehicle.gnss.reader import GnssReader

    fix = "check the receiver's USB cable and antenna, and that [gnss] url names it (/dev/passlane/gnss)"
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=0.2)
    except (serial.SerialException, ValueError, OSError) as exc:
        return Result("gnss", Status.FAIL, f"cannot open {url}: {exc}", fix)
    reader, got = GnssReader(), 0
    deadline = time.monotonic() + wait_s
    with port:
        while time.monotonic() < deadline:
            try:
                chunk = port.read(max(1, port.in_waiting))
            except serial.SerialException as exc:
                return Result("gnss", Status.FAIL, f"{url} closed: {exc}", fix)
            got += len(chunk)
            if reader.feed(chunk):
                return Result("gnss", Status.OK, f"position epochs arrive from {url}")
    if got == 0:
        return Result("gnss", Status.FAIL, f"no bytes from {url} in {wait_s:g} s", fix)
    return Result(
        "gnss",
        Status.FAIL,
        f"{got} bytes from {url} in {wait_s:g} s but no position epoch parsed",
        "check the receiver's baud rate ([gnss] baud) and that it outputs NMEA or UBX NAV-PVT",
    )


def checks(cfg: ExamVehicleConfig) -> list[tuple[str, Check]]:
    """The shared checks with the vehicle board, then the receiver."""
    data_folder = Path(cfg.journal.path).parent
    return common_checks(cfg, [("vehicle-board", cfg.vehicle_board.url)], data_folder) + [
        ("gnss", lambda: gnss_result(cfg.gnss.url, cfg.gnss.baud))
    ]
