"""An exam car starts no exam until its clock is synchronised: on the unit time base only NTP (here a
`[clock] sync_command` the test controls) counts; on the `gnss` time base dated RTK fixes from the receiver count
too; nor below the free space `[storage]` asks. The real unit in-process, a real broker, the simulated car's NMEA stream and its vehicle-board firmware."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from edge.broker import MosquittoBroker, free_port
from edge.contract import EventKind
from edge.pki import SitePki
from edge.unit_config import ClockConfig, StorageConfig
from exam_vehicle.config import load_config
from exam_vehicle.gnss import FixQuality
from exam_vehicle.page import create_page
from exam_vehicle.unit import ExamRefused, ExamUnit
from site_sim.exam_world import SimCar
from site_sim.unit_configs import exam_vehicle_toml

pytestmark = [pytest.mark.broker]
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


async def _until(pred, timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _unit(
    tmp: Path, broker, pki, car: SimCar, time_base: str, probe: list[str], storage: StorageConfig | None = None
) -> ExamUnit:
    config = tmp / "exam-vehicle.toml"
    config.write_text(
        exam_vehicle_toml(
            SITE, UNIT, broker, pki, car.nmea.url, car.board_url, free_port(), exam={"time_base": time_base}
        )
    )
    cfg = load_config(config)
    cfg = cfg.model_copy(update={"clock": ClockConfig(require_sync=True, sync_command=probe, check_interval_s=0.1)})
    if storage is not None:
        cfg = cfg.model_copy(update={"storage": storage})
    return ExamUnit(cfg, speak=lambda text: None)


def _run(car: SimCar, unit: ExamUnit, scenario: Callable[[ExamUnit], Awaitable[None]]) -> None:
    """Start the unit, play `scenario` on it, stop it; the simulated car is closed whatever happened."""

    async def main() -> None:
        await unit.start()
        try:
            await scenario(unit)
        finally:
            await unit.stop()

    try:
        asyncio.run(main())
    finally:
        car.close()


@pytest.mark.timeout(120)
def test_on_the_unit_time_base_no_exam_starts_until_ntp_says_synchronised(tmp_path: Path, broker) -> None:
    b, pki = broker
    flag = tmp_path / "ntp-synchronised"
    car = SimCar(UNIT, 1.0)

    async def scenario(unit: ExamUnit) -> None:
        await _until(lambda: unit.rtk_fixed(unit.time_base.now()), 30, "an RTK fixed position")
        with pytest.raises(ExamRefused, match="clock not synchronised: no exam starts"):
            unit.start_exam("张伟")
        assert unit.status()["clock"]["synced"] is False
        assert unit.telemetry_sample(0).clock_synced is False
        flag.touch()
        await _until(lambda: unit.status()["clock"]["synced"], 10, "the clock synchronised")
        assert unit.status()["clock"]["source"] == "command"
        assert unit.start_exam("张伟")

    _run(car, _unit(tmp_path, b, pki, car, "unit", ["test", "-e", str(flag)]), scenario)


@pytest.mark.timeout(120)
def test_on_the_gnss_time_base_dated_fixes_from_the_receiver_count_as_a_synchronised_clock(
    tmp_path: Path, broker
) -> None:
    b, pki = broker
    car = SimCar(UNIT, 1.0)

    async def scenario(unit: ExamUnit) -> None:
        await _until(
            lambda: unit.last_epoch is not None and unit.last_epoch.quality is FixQuality.RTK_FIXED,
            30,
            "an RTK fixed position",
        )
        await _until(lambda: unit.status()["clock"]["synced"], 10, "GNSS time vouching for the clock")
        assert unit.status()["clock"]["source"] == "gnss"
        assert unit.start_exam("张伟")

    unit = _unit(tmp_path, b, pki, car, "gnss", ["false"])  # no NTP at all
    assert unit.clock_gate.refusal("exam") is not None, "before the receiver is heard"
    _run(car, unit, scenario)


@pytest.mark.timeout(120)
def test_no_exam_starts_below_the_free_space_it_needs(tmp_path: Path, broker) -> None:
    """A threshold above what the disk has (a petabyte): the real free space is too little, as on a full SD card."""
    b, pki = broker
    car = SimCar(UNIT, 1.0)

    async def scenario(unit: ExamUnit) -> None:
        await _until(lambda: unit.rtk_fixed(unit.time_base.now()), 30, "an RTK fixed position")
        with pytest.raises(ExamRefused, match=r"disk full: .* no new exam"):
            unit.start_exam("张伟")
        assert unit.status()["disk"]["full"] is True and unit.telemetry_sample(0).disk_full is True
        assert not unit.journal.events_of_kinds([EventKind.EXAM_STARTED])
        with TestClient(create_page(unit)) as page:  # the examiner sees why on the car's page
            zh, en = page.get("/?lang=zh-CN").text, page.get("/lang/en").text
            unknown = page.get("/lang/fr")  # a language the page does not have: a clear 422, not a 500
        assert "磁盘已满：空间恢复前不能开始考试" in zh and "disk full: no exam starts until space returns" in en
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["path", "code"]

    full = StorageConfig(min_free_mb=1e9, resume_free_mb=1e9)
    _run(car, _unit(tmp_path, b, pki, car, "unit", ["true"], full), scenario)
