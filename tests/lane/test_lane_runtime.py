"""The running lane on simulated hardware, a real broker and the cloud stand-in: whole cases, offline, faults."""

from __future__ import annotations

import asyncio

import pytest

from lane_controller import case as C
from lane_controller.hardware import SimulatedHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading

from lane_helpers import await_until, lane_config

pytestmark = pytest.mark.broker


async def drive_case(lane: Lane, id_number: str = "110101199003071234") -> str:
    case = await lane.open_case("A", id_number, None, "insp-1")
    cid = case.case_id
    await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 10, "partner records")
    await lane.apply(cid, C.Admit(), "insp-1")
    await await_until(lambda: lane.cases[cid].vin_read is not None, 10, "VIN read")
    c = lane.cases[cid]
    if c.stage == C.Stage.ADMITTED:
        await lane.apply(cid, C.VinConfirm(c.certificate_vin, "checked by eye"), "insp-1")
    for item in ("vin", "engine", "tyres"):
        await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
    await lane.save_photo(cid, "0111", b"\xff\xd8fake", "insp-1")
    await lane.save_photo(cid, "0113", None, "insp-1")
    await lane.apply(cid, C.Conclude(), "insp-1")
    await await_until(lambda: lane.cases[cid].plate_options, 10, "plate options")
    await lane.apply(cid, C.ChoosePlate(lane.cases[cid].plate_options[0]), "insp-1")
    await await_until(lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED, 10, "payment and issuing")
    await lane.apply(cid, C.Fitted(), "insp-1")
    await lane.apply(cid, C.OpenExit(), "insp-1")
    await await_until(lambda: cid not in lane.cases, 10, "exit passage")
    return cid


def test_a_case_goes_from_entry_to_exit_and_every_event_reaches_the_cloud(tmp_path, mqtt_broker, site_pki, cloud):
    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        hw = SimulatedHardware(pass_after_s=0.05)
        lane = Lane(cfg, hardware=hw, reader=VinReading(load=False))
        await lane.start()
        try:
            cid = await drive_case(lane)
            row = lane.journal.case(cid)
            assert row.stage == "closed" and row.state["outcome"] == "registered"
            assert hw.physical_issues == 1
            last = lane.journal.last_seq()
            await await_until(lambda: lane.journal.acked_seq() == last, 10, "acks")
            kinds = [e.kind.value for e in cloud.events["lane-01"].values() if e.case_id == cid]
            assert kinds[0] == "case.opened" and kinds[-1] == "case.closed"
            assert "case.paid" in kinds and kinds.index("case.paid") < kinds.index("case.plates_issued")
        finally:
            await lane.stop()
    asyncio.run(main())


def test_offline_cloud_makes_lookup_wait_with_a_reason_and_resume(tmp_path, mqtt_broker, site_pki, cloud):
    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        lane = Lane(cfg, hardware=SimulatedHardware(pass_after_s=0.05), reader=VinReading(load=False))
        await lane.start()
        try:
            await await_until(lambda: lane.session.connected.is_set(), 10, "connected")
            await asyncio.to_thread(mqtt_broker.stop)
            case = await lane.open_case("A", "110101199003071234", None, "insp-1")
            await await_until(lambda: "cloud" in (lane.waiting.get(case.case_id) or ""), 15, "visible waiting reason")
            assert lane.cases[case.case_id].stage == C.Stage.OPENED
            await asyncio.to_thread(mqtt_broker.start)
            await await_until(lambda: lane.cases[case.case_id].stage == C.Stage.RECORDS_FETCHED, 30, "lookup after reconnect")
        finally:
            await lane.stop()
    asyncio.run(main())


def test_issuer_fault_holds_the_case_and_a_retry_issues_once(tmp_path, mqtt_broker, site_pki, cloud):
    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        hw = SimulatedHardware(pass_after_s=0.05)
        lane = Lane(cfg, hardware=hw, reader=VinReading(load=False))
        await lane.start()
        try:
            await hw.inject_fault("plate-issuer", "ribbon jam")
            case = await lane.open_case("A", "110101199003071234", None, "insp-1")
            cid = case.case_id
            await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 10, "records")
            await lane.apply(cid, C.Admit(), "insp-1")
            await await_until(lambda: lane.cases[cid].vin_read is not None, 10, "VIN read")
            await lane.apply(cid, C.VinConfirm(lane.cases[cid].certificate_vin, "by eye"), "insp-1")
            for item in ("vin", "engine", "tyres"):
                await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
            await lane.save_photo(cid, "0111", b"x", "insp-1")
            await lane.save_photo(cid, "0113", b"x", "insp-1")
            await lane.apply(cid, C.Conclude(), "insp-1")
            await await_until(lambda: lane.cases[cid].plate_options, 10, "options")
            await lane.apply(cid, C.ChoosePlate(lane.cases[cid].plate_options[0]), "insp-1")
            await await_until(lambda: lane.cases[cid].hold is not None, 10, "hold on issuer fault")
            assert "device:plate-issuer" in lane.alerts
            await hw.clear_fault("plate-issuer")
            await lane.apply(cid, C.Resume(), "insp-1")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED, 10, "issued after resume")
            assert hw.physical_issues == 1
        finally:
            await lane.stop()
    asyncio.run(main())


class AcceptingReader:
    """Stands in for the VIN model (vision/, not shipped yet): reads the VIN it is shown."""

    reader = "stand-in"
    error = None

    def __init__(self, vin_for):  # noqa: ANN001
        self.vin_for = vin_for

    def read(self, frame):  # noqa: ANN001, ANN201
        from lane_controller.vin_camera import ReadResult

        return ReadResult(self.vin_for(), "accept", 0.97, "valid", [[10, 10], [200, 10], [200, 40], [10, 40]])


def test_an_accepted_vin_matching_the_certificate_needs_no_inspector(tmp_path, mqtt_broker, site_pki, cloud):
    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        lane = Lane(cfg, hardware=SimulatedHardware(pass_after_s=0.01), reader=None)
        lane.reader = AcceptingReader(lambda: next(iter(lane.cases.values())).certificate_vin)
        await lane.start()
        try:
            cid = (await lane.open_case("A", "110101199003071234", None, "insp-1")).case_id
            await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 10, "records")
            await lane.apply(cid, C.Admit(), "insp-1")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.VIN_CONFIRMED, 10, "VIN confirmed by the reader")
            assert (lane.data_dir / lane.cases[cid].vin_read["image"]).exists()
        finally:
            await lane.stop()
    asyncio.run(main())


def test_entry_barrier_fault_holds_the_case_with_an_alert_and_never_crashes(tmp_path, mqtt_broker, site_pki, cloud):
    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        hw = SimulatedHardware(pass_after_s=0.01)
        lane = Lane(cfg, hardware=hw, reader=VinReading(load=False))
        await lane.start()
        try:
            cid = (await lane.open_case("A", "110101199003071234", None, "insp-1")).case_id
            await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 10, "records")
            await hw.inject_fault("io-board", "link down")
            await lane.apply(cid, C.Admit(), "insp-1")
            await await_until(lambda: lane.cases[cid].hold is not None, 10, "hold")
            assert "io-board" in lane.cases[cid].hold and "device:io-board" in lane.alerts
            await hw.clear_fault("io-board")
            assert "device:io-board" not in lane.alerts
            await lane.apply(cid, C.Resume(), "insp-1")  # re-runs the pending step: open the entry barrier
            await await_until(lambda: lane.cases[cid].stage == C.Stage.ADMITTED, 10, "admitted after resume")
        finally:
            await lane.stop()
    asyncio.run(main())


def test_remote_open_barrier_is_executed_with_its_reason_and_journaled(tmp_path, mqtt_broker, site_pki, cloud):
    import time as _t

    from edge.contract import CommandName, RemoteCommand

    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        hw = SimulatedHardware(pass_after_s=None)
        lane = Lane(cfg, hardware=hw, reader=VinReading(load=False))
        await lane.start()
        try:
            await await_until(lambda: lane.session.connected.is_set(), 10, "connected")
            now = _t.time()
            cloud.send_command("lane-01", RemoteCommand(request_id="ops-0000001", command=CommandName.OPEN_BARRIER, args={"barrier": "exit"},
                                                        issued_by="ops-1", reason="ambulance", issued_at=now, expires_at=now + 30))
            await await_until(lambda: cloud.command_results, 10, f"command result {lane.commands.results}")
            assert cloud.command_results[0].status.value == "done"
            assert hw.barriers["exit"]["arm"] == "open"
            ev = [e for e in lane.journal.events() if e["kind"] == "barrier.actuated"]
            assert ev and ev[0]["data"]["reason"] == "ambulance" and ev[0]["actor"] == "ops-1"
        finally:
            await lane.stop()
    asyncio.run(main())


@pytest.mark.parametrize("taken", [False, True])
def test_an_expired_plate_reservation_is_renewed_or_the_case_held(tmp_path, mqtt_broker, site_pki, cloud, taken):
    async def main():
        cloud.auto_pay_s = None  # the owner does not pay in time
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        lane = Lane(cfg, hardware=SimulatedHardware(pass_after_s=0.01), reader=VinReading(load=False))
        await lane.start()
        try:
            cid = (await lane.open_case("A", "110101199003071234", None, "insp-1")).case_id
            await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 10, "records")
            await lane.apply(cid, C.Admit(), "insp-1")
            await await_until(lambda: lane.cases[cid].vin_read is not None, 10, "VIN read")
            await lane.apply(cid, C.VinConfirm(lane.cases[cid].certificate_vin, "by eye"), "insp-1")
            for item in ("vin", "engine", "tyres"):
                await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
            await lane.save_photo(cid, "0111", b"x", "insp-1")
            await lane.save_photo(cid, "0113", b"x", "insp-1")
            await lane.apply(cid, C.Conclude(), "insp-1")
            await await_until(lambda: lane.cases[cid].plate_options, 10, "options")
            number = lane.cases[cid].plate_options[0]
            await lane.apply(cid, C.ChoosePlate(number), "insp-1")
            await await_until(lambda: lane.cases[cid].payment is not None, 10, "payment started")
            cloud.expire_reservation("lane-01", cid, number, taken_by="other-case" if taken else None)
            if taken:
                await await_until(lambda: lane.cases[cid].hold is not None, 10, "hold")
                assert "no longer free" in lane.cases[cid].hold
            else:
                await await_until(lambda: cloud.reserved.get(number) == cid, 10, "renewed")
                assert lane.cases[cid].hold is None and lane.cases[cid].stage == C.Stage.PLATE_RESERVED
        finally:
            await lane.stop()
    asyncio.run(main())


def test_a_camera_folder_shows_the_frame_named_after_the_vehicle(tmp_path):
    import cv2
    import numpy as np

    from lane_controller.vin_camera import VinCamera

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a-other.jpg"), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(folder / "LSVAU2180N2183294.jpg"), np.full((10, 10, 3), 255, np.uint8))
    cam = VinCamera(str(folder))
    assert cam.grab("LSVAU2180N2183294").shape[:2] == (10, 10)
    assert cam.grab("NOSUCHVIN00000000").shape[:2] in ((20, 30), (10, 10))


def test_a_case_over_the_promise_raises_an_alert(tmp_path, mqtt_broker, site_pki, cloud):
    async def main():
        cfg = lane_config(tmp_path, mqtt_broker, site_pki)
        clock = [1_000_000.0]
        lane = Lane(cfg, hardware=SimulatedHardware(pass_after_s=None), reader=VinReading(load=False), clock=lambda: clock[0])
        await lane.start()
        try:
            cid = (await lane.open_case("A", "110101199003071234", None, "insp-1")).case_id
            clock[0] += 31 * 60  # the lane's clock, not a sleep
            lane._spawn(lane._watch_promise(period_s=0.05))
            await await_until(lambda: f"promise:{cid}" in lane.alerts, 5, "promise alert")
        finally:
            await lane.stop()
    asyncio.run(main())
