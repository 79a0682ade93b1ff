"""No case starts until the clock is synchronised: the probe (the kernel's adjtimex flag, or `[clock]
sync_command`), the gate, and a running lane refusing a case with an alert and telemetry until the clock is set."""

from __future__ import annotations

import asyncio
import ctypes
import struct
from pathlib import Path

import pytest
from lane_helpers import await_until, lane_config

from edge.clock_sync import ClockGate, _Timex, command_synchronised, kernel_synchronised
from edge.unit_config import ClockConfig
from lane_controller import case as C
from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading


def test_struct_timex_has_the_kernels_size_so_adjtimex_cannot_write_past_it() -> None:
    """Linux's struct timex: 208 bytes on 64-bit (arm64, x86_64), 128 on 32-bit (armhf Raspberry Pi OS)."""
    assert ctypes.sizeof(_Timex) == (208 if struct.calcsize("P") == 8 else 128)


def test_the_kernel_probe_answers_without_systemd() -> None:
    state = kernel_synchronised()
    assert state.source == "kernel"
    assert state.detail.startswith("synchronised") if state.synced else "not synchronised" in state.detail


def test_a_sync_command_decides_by_its_exit_status(tmp_path: Path) -> None:
    flag = tmp_path / "synced"
    probe = ["test", "-e", str(flag)]
    assert not command_synchronised(probe).synced
    flag.touch()
    assert command_synchronised(probe).synced
    missing = command_synchronised([str(tmp_path / "no-such-probe")])
    assert not missing.synced and "no-such-probe" in missing.detail


def test_the_gate_refuses_until_synchronised_and_not_at_all_when_not_required(tmp_path: Path) -> None:
    flag = tmp_path / "synced"
    now = [0.0]
    gate = ClockGate(ClockConfig(sync_command=["test", "-e", str(flag)], check_interval_s=5), monotonic=lambda: now[0])
    reason = gate.refusal("case")
    assert reason is not None and reason.startswith("clock not synchronised: no case starts")
    flag.touch()
    assert gate.refusal("case") is not None, "the last answer holds for the check interval"
    now[0] = 5.0
    assert gate.refusal("case") is None
    free = ClockGate(ClockConfig(require_sync=False, sync_command=["false"]))
    assert free.refusal("case") is None and free.state().source == "not required"


@pytest.mark.broker
def test_a_lane_opens_no_case_until_its_clock_is_synchronised(tmp_path, mqtt_broker, site_pki, cloud, boards) -> None:
    io, issuer = boards
    flag = tmp_path / "ntp-synchronised"
    cfg = lane_config(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    cfg = cfg.model_copy(
        update={"clock": ClockConfig(require_sync=True, sync_command=["test", "-e", str(flag)], check_interval_s=0.1)}
    )
    owner = cloud.good[0].owner_id_number

    async def main() -> None:
        lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
        await lane.start()
        try:
            with pytest.raises(C.Refused, match="clock not synchronised"):
                await lane.open_case("A", owner, None, "insp-1")
            assert "clock not synchronised" in lane.alerts["clock:unsynced"]["text"]
            assert lane.telemetry_sample(0).clock_synced is False
            assert not lane.journal.events(), "a refused case leaves nothing in the journal"

            flag.touch()  # NTP answered
            await await_until(lambda: "clock:unsynced" not in lane.alerts, 10, "the alert cleared by itself")
            assert lane.telemetry_sample(0).clock_synced is True
            opened = await lane.open_case("A", owner, None, "insp-1")
            assert opened.station == "A" and lane.journal.events()[0]["kind"] == "case.opened"
        finally:
            await lane.stop()

    asyncio.run(main())
