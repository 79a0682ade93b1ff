"""The lane on the simulated lane-bus boards (real firmware, simulated world) through the host driver."""

from __future__ import annotations

import asyncio

import pytest
from lane_helpers import await_until, lane_config

from firmware.sim.control import SimControl
from firmware.sim.server import SimBoardServer
from lane_controller import case as C
from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading

pytestmark = pytest.mark.broker


@pytest.fixture
def boards():
    io = SimBoardServer("io-board", time_scale=10.0).start()
    issuer = SimBoardServer("plate-issuer", time_scale=20.0).start()
    yield io, issuer
    io.stop()
    issuer.stop()


def test_vehicle_through_the_lane_on_simulated_boards_closes_arms_only_after_passage(
    tmp_path, mqtt_broker, site_pki, cloud, boards
):
    io, issuer = boards
    io_ctl = SimControl("127.0.0.1", io.control_port)
    issuer_ctl = SimControl("127.0.0.1", issuer.control_port)

    async def main():
        cfg = lane_config(
            tmp_path,
            mqtt_broker,
            site_pki,
            io_url=io.url,
            issuer_url=issuer.url,
            authority=cloud.settings.authorities[0],
        )
        hw = BoardHardware(io.url, issuer.url)
        lane = Lane(cfg, hardware=hw, reader=VinReading(load=False))
        await lane.start()
        try:
            cid = (await lane.open_case("A", cloud.good[0].owner_id_number, None, "insp-1")).case_id
            await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 10, "records")
            await lane.apply(cid, C.Admit(), "insp-1")
            await asyncio.to_thread(io_ctl.vehicle_pass, "entry")
            await await_until(lambda: lane.cases[cid].vin_read is not None, 60, "vehicle admitted and VIN read")
            await lane.apply(cid, C.VinConfirm(lane.cases[cid].certificate_vin, "by eye"), "insp-1")
            for item in ("vin", "engine", "tyres"):
                await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
            await lane.save_photo(cid, "0111", b"x", "insp-1")
            await lane.save_photo(cid, "0113", b"x", "insp-1")
            await lane.apply(cid, C.Conclude(), "insp-1")
            await await_until(lambda: lane.cases[cid].plate_options, 10, "options")
            await lane.apply(cid, C.ChoosePlate(lane.cases[cid].plate_options[0]), "insp-1")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED, 60, "plates issued by the issuer")
            await lane.apply(cid, C.Fitted(), "insp-1")
            await lane.apply(cid, C.OpenExit(), "insp-1")
            await asyncio.to_thread(io_ctl.vehicle_pass, "exit")
            await await_until(lambda: cid not in lane.cases, 20, "exit passage")
            await await_until(
                lambda: (
                    io_ctl.state()["barriers"]["exit"]["arm"] == "closed"
                    and io_ctl.state()["barriers"]["entry"]["arm"] == "closed"
                ),
                20,
                "both arms closed in the world",
            )
        finally:
            await lane.stop()

    asyncio.run(main())
    log = io_ctl.world_log()
    bad = [e for e in log if e["event"] == "arm_struck_presence" or (e["event"] == "arm_closing" and e.get("presence"))]
    assert not bad, bad
    assert sum(1 for e in log if e["event"] == "vehicle_passed") == 2
    plates = issuer_ctl.take_plates()
    assert len(plates) >= 1
