"""The judging time base: inputs on the receiver's GNSS time, so a world that runs faster is judged as it is.

Pure tests of `GnssTimeBase`, then the real unit (`passlane exam run`, real broker, the real vehicle-board firmware,
NMEA over socket://) judging the same driver with a 3 s stop in a world at speed 1 and at speed 8.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.broker import MosquittoBroker, free_port
from edge.pki import SitePki
from exam_vehicle.gnss import Epoch, FixQuality
from exam_vehicle.signals import Signal, SignalChange
from exam_vehicle.time_base import GnssTimeBase, UnitTimeBase, fix_time
from site_sim.exam_car import PROFILES
from site_sim.exam_world import SimCar, real_offsets
from site_sim.polling import wait_until
from site_sim.unit_configs import exam_vehicle_toml

REPO = str(Path(__file__).resolve().parents[2])
T = 1_767_000_000.0


def _epoch(fix: float, arrived: float) -> Epoch:
    when = dt.datetime.fromtimestamp(fix, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Epoch(t=arrived, time=when, lat=31.9, lon=118.8, quality=FixQuality.RTK_FIXED)


def _signal(at: float) -> SignalChange:
    return SignalChange(t=at, signal=Signal.BRAKE, value=True)


def test_an_epoch_is_stamped_with_its_fix_time_and_a_signal_between_epochs_on_the_receivers_rate() -> None:
    tb = GnssTimeBase(local=lambda: 0.0, fallback=lambda: -1.0)
    for k in range(10):  # a world 8 times faster: 0.1 s of GNSS time every 12.5 ms of the unit's clock
        assert tb.epoch(_epoch(T + 0.1 * k, 50.0 + 0.0125 * k)).t == pytest.approx(T + 0.1 * k)
    assert tb.rate == pytest.approx(8.0) and tb.cycle == pytest.approx(0.1)
    assert tb.signal(_signal(50.0 + 0.0125 * 9 + 0.005)).t == pytest.approx(T + 0.9 + 0.04)


def test_a_signal_stays_inside_its_epoch_and_stamps_never_go_backwards() -> None:
    tb = GnssTimeBase(local=lambda: 0.0)
    tb.epoch(_epoch(T, 10.0))
    tb.epoch(_epoch(T + 0.1, 10.1))
    late = tb.signal(_signal(10.19)).t  # the next epoch is late: the change still belongs to this one
    assert T + 0.1 < late < T + 0.2
    assert tb.signal(_signal(10.15)).t == late, "arrived out of order: never earlier than the last stamp"
    assert tb.epoch(_epoch(T + 0.2, 10.21)).t == pytest.approx(T + 0.2)
    assert tb.epoch(_epoch(T + 0.2, 10.31)).t == pytest.approx(T + 0.2), "a repeated fix time"


def test_without_epochs_the_clock_runs_on_at_the_last_rate_and_before_the_first_the_units_clock_stands_in() -> None:
    tb = GnssTimeBase(local=lambda: 0.0, fallback=lambda: 42.0)
    assert tb.signal(_signal(5.0)).t == 42.0 and not tb.locked
    for k in range(5):
        tb.epoch(_epoch(T + 0.1 * k, 10.0 + 0.05 * k))  # rate 2
    assert tb.signal(_signal(10.2 + 3.0)).t == pytest.approx(T + 0.4 + 6.0)
    assert tb.epoch(_epoch(T + 0.5, 13.3)).t == pytest.approx(T + 6.4), "a fix older than a stamp given: no step back"


def test_an_epoch_without_a_date_is_not_a_time_and_the_unit_base_keeps_arrival_stamps() -> None:
    assert fix_time(Epoch(t=1.0, time="08:50:00.000")) is None
    tb = UnitTimeBase(clock=lambda: 7.0)
    e = _epoch(T, 99.0)
    assert tb.epoch(e) is e and tb.now() == 7.0


def test_the_world_runs_at_real_speed_after_a_change_the_board_needs_real_time_to_sense() -> None:
    rpm = SignalChange(t=0.0, signal=Signal.ENGINE_RPM, value=900)
    inputs: list[Any] = [
        rpm,
        SignalChange(t=1.0, signal=Signal.ENGINE_RUNNING, value=True),  # 2 s at real speed
        rpm.model_copy(update={"t": 2.0}),
        _signal(5.0),  # a switch: 0.6 s at real speed
        rpm.model_copy(update={"t": 7.0}),
    ]
    assert real_offsets(inputs, 8.0) == pytest.approx(
        [0.0, 1 / 8, 1 / 8 + 1.0, 1 / 8 + 2.0 + 2.0 / 8, 1 / 8 + 2.0 + 2.0 / 8 + 0.6 + 1.4 / 8]
    )


# ---------------------------------------------------------------- the real unit, a world at two speeds
UNIT, SITE = "car-01", "site-1"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoBroker, SitePki]]:
    pki = SitePki(tmp_path_factory.mktemp("pki"))
    pki.init(SITE, {"bridge": "bridge", "ops": "ops", UNIT: "exam-vehicle"})
    b = MosquittoBroker(pki, tmp_path_factory.mktemp("broker"))
    b.start()
    try:
        yield b, pki
    finally:
        b.stop()


def _judged_in_the_bay(tmp: Path, broker: MosquittoBroker, pki: SitePki, speed: float, time_base: str) -> list[str]:
    """The rules the unit deducted for `bay-stop-3s` in a world at `speed`, up to the end of the bay item."""
    car = SimCar(UNIT, speed)
    port = free_port()
    config = tmp / "exam-vehicle.toml"
    config.write_text(
        exam_vehicle_toml(SITE, UNIT, broker, pki, car.nmea.url, car.board_url, port, exam={"time_base": time_base})
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "exam", "run", "--config", str(config), "--start", "张伟"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": REPO},
    )  # fmt: skip

    def status() -> dict[str, Any]:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).json()  # type: ignore[no-any-return]
        except (httpx.HTTPError, ValueError):
            return {}

    try:
        wait_until(lambda: (status().get("exam") or {}).get("running"), 60, "the exam started on an RTK fix")
        car.go(PROFILES["bay-stop-3s"][0])
        wait_until(
            lambda: ((e := status().get("exam") or {}) and e.get("item") == "hill_stop_and_start") or e.get("result"),
            150,
            "the bay driven",
        )
        return [d["rule_id"] for d in (status().get("exam") or {}).get("deductions", [])]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        car.close()


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_3s_stop_is_judged_the_same_at_speed_1_and_8_on_gnss_time_and_missed_on_the_units_clock(
    tmp_path: Path, broker
) -> None:
    b, pki = broker
    runs = {}
    for speed, base in ((1.0, "gnss"), (8.0, "gnss"), (8.0, "unit")):
        folder = tmp_path / f"{speed:g}-{base}"
        folder.mkdir()
        runs[(speed, base)] = _judged_in_the_bay(folder, b, pki, speed, base)
    assert runs[(1.0, "gnss")] == runs[(8.0, "gnss")] == ["bay-stop-over-2s"]
    assert "bay-stop-over-2s" not in runs[(8.0, "unit")], "on the unit's clock a 3 s stop of the world lasts 0.4 s"
