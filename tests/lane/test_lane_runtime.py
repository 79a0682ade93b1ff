"""The running lane on the real firmware (simulated world), a real broker and the real cloud bridge:
whole cases, offline, faults, remote commands, reservation expiry, the camera folder."""

from __future__ import annotations

import asyncio
import time

import pytest
from lane_helpers import await_until, lane_config, seed_kept_for_review, show_vin

from edge.contract import CommandName, Leaf, Notification, NotificationKind, topic
from lane_controller import case as C
from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading

pytestmark = pytest.mark.broker


def make_lane(
    tmp_path, mqtt_broker, site_pki, cloud, boards, reader=None, command_timeout_s: float = 15.0, **kw
) -> Lane:
    io, issuer = boards
    cfg = lane_config(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    hw = BoardHardware(io.url, issuer.url, poll_s=0.2, command_timeout_s=command_timeout_s)
    return Lane(cfg, hardware=hw, reader=reader or VinReading(load=False), **kw)


async def to_records(lane: Lane, id_number: str) -> str:
    cid = (await lane.open_case("A", id_number, None, "insp-1")).case_id
    await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 15, "partner records from the bridge")
    return cid


async def admit(lane: Lane, world, cid: str) -> None:
    """The inspector admits; the world drives the car through the entry barrier once it is open."""
    await lane.apply(cid, C.Admit(), "insp-1")
    await asyncio.to_thread(world.vehicle_pass, "entry")
    await await_until(lambda: lane.cases[cid].vin_read is not None, 60, "vehicle admitted and VIN read")


async def inspect(lane: Lane, cid: str) -> None:
    c = lane.cases[cid]
    if c.stage == C.Stage.ADMITTED:
        await lane.apply(cid, C.VinConfirm(c.certificate_vin, "checked by eye"), "insp-1")
    for item in ("vin", "engine", "tyres"):
        await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
    await lane.save_photo(cid, "0111", b"\xff\xd8photo", "insp-1")
    await lane.save_photo(cid, "0113", b"\xff\xd8photo", "insp-1")
    await lane.apply(cid, C.Conclude(), "insp-1")
    await await_until(lambda: lane.cases[cid].plate_options, 15, "plate options")


async def drive_case(lane: Lane, world, id_number: str) -> str:
    cid = await to_records(lane, id_number)
    await admit(lane, world, cid)
    await inspect(lane, cid)
    await lane.apply(cid, C.ChoosePlate(lane.cases[cid].plate_options[0]), "insp-1")
    await await_until(lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED, 60, "payment and issuing")
    await lane.apply(cid, C.Fitted(), "insp-1")
    await lane.apply(cid, C.OpenExit(), "insp-1")
    await asyncio.to_thread(world.vehicle_pass, "exit")
    await await_until(lambda: cid not in lane.cases, 20, "exit passage")
    return cid


def test_a_case_goes_from_entry_to_exit_and_every_event_reaches_the_cloud(
    tmp_path, mqtt_broker, site_pki, cloud, boards
):
    io, issuer = boards

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
        await lane.start()
        try:
            cid = await drive_case(lane, io.control(), cloud.good[0].owner_id_number)
            row = lane.journal.case(cid)
            assert row.stage == "closed" and row.state["outcome"] == "registered"
            last = lane.journal.last_seq()
            await await_until(lambda: lane.journal.acked_seq() == last, 20, "acks")
            return cid, row.state["plate"]
        finally:
            await lane.stop()

    cid, plate = asyncio.run(main())
    assert [p["text"] for p in issuer.control().state()["issued"]].count(plate) == 2, (
        "one plate pair (two plates), issued once"
    )
    kinds = [e["kind"] for e in sorted(cloud.events().values(), key=lambda e: e["seq"]) if e["case_id"] == cid]
    assert kinds[0] == "case.opened" and kinds[-1] == "case.closed"
    assert "case.paid" in kinds and kinds.index("case.paid") < kinds.index("case.plates_issued")
    assert cloud.storage.case(cid)["outcome"] == "registered"


def test_offline_cloud_makes_lookup_wait_with_a_reason_and_resume(tmp_path, mqtt_broker, site_pki, cloud, boards):
    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
        await lane.start()
        try:
            await await_until(lambda: lane.session.connected.is_set(), 10, "connected")
            await asyncio.to_thread(mqtt_broker.stop)
            case = await lane.open_case("A", cloud.good[0].owner_id_number, None, "insp-1")
            await await_until(lambda: "cloud" in (lane.waiting.get(case.case_id) or ""), 15, "visible waiting reason")
            assert lane.cases[case.case_id].stage == C.Stage.OPENED
            await asyncio.to_thread(mqtt_broker.start)
            await await_until(
                lambda: lane.cases[case.case_id].stage == C.Stage.RECORDS_FETCHED, 40, "lookup after reconnect"
            )
        finally:
            await lane.stop()

    asyncio.run(main())


def test_issuer_fault_holds_the_case_and_a_retry_issues_once(tmp_path, mqtt_broker, site_pki, cloud, boards):
    io, issuer = boards
    mechanism = issuer.control()

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
        await lane.start()
        try:
            await asyncio.to_thread(mechanism.inject_fault, "jam")  # a plate jams in the issuer
            cid = await to_records(lane, cloud.good[0].owner_id_number)
            await admit(lane, io.control(), cid)
            await inspect(lane, cid)
            await lane.apply(cid, C.ChoosePlate(lane.cases[cid].plate_options[0]), "insp-1")
            await await_until(lambda: lane.cases[cid].hold is not None, 60, "hold on issuer fault")
            assert "device:plate-issuer" in lane.alerts
            await asyncio.to_thread(mechanism.clear_fault)  # the operator clears the jam
            await lane.apply(cid, C.Resume(), "insp-1")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED, 60, "issued after resume")
            return lane.cases[cid].plate
        finally:
            await lane.stop()

    plate = asyncio.run(main())
    issued = [p["text"] for p in mechanism.state()["issued"]]
    assert issued.count(plate) == 2, f"one pair, the retry made only the missing plates: {issued}"


def test_an_accepted_vin_matching_the_certificate_needs_no_inspector(tmp_path, mqtt_broker, site_pki, cloud, boards):
    """The real reader reads the frame the camera uploaded of the vehicle standing at the station."""
    import cv2

    from vision.synth import render_scene

    reader = VinReading(load=True)
    vehicle = cloud.good[0]
    seed = next(
        s for s in range(40) if reader.read(render_scene(vehicle.vin, s)).decision == "accept"
    )  # a readable photo

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards, reader=reader)
        await lane.start()
        try:
            cid = await to_records(lane, vehicle.owner_id_number)
            show_vin(tmp_path / "camera", vehicle.vin, seed)
            await lane.apply(cid, C.Admit(), "insp-1")
            await asyncio.to_thread(boards[0].control().vehicle_pass, "entry")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.VIN_CONFIRMED, 60, "VIN confirmed by the reader")
            c = lane.cases[cid]
            assert c.vin == vehicle.vin and (lane.data_dir / c.vin_read.image).exists()
            assert cv2.imread(str(lane.data_dir / c.vin_read.image)) is not None
        finally:
            await lane.stop()

    asyncio.run(main())


def _admit_with_vin_on_camera(
    tmp_path, mqtt_broker, site_pki, cloud, boards, reader, owner_id: str, vin: str, seed: int
):
    """Open a case, let the camera see `vin`, admit the vehicle; the case as the lane left it, and the uploaded frame."""

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards, reader=reader)
        await lane.start()
        try:
            cid = await to_records(lane, owner_id)
            frame = show_vin(tmp_path / "camera", vin, seed)
            await admit(lane, boards[0].control(), cid)
            return lane.cases[cid], frame
        finally:
            await lane.stop()

    return asyncio.run(main())


def test_a_vin_on_camera_that_differs_from_the_certificate_goes_to_the_inspector(
    tmp_path, mqtt_broker, site_pki, cloud, boards
):
    """The camera shows another vehicle (the wrong car at the station): the lane must not confirm the VIN."""
    from vision.synth import render_scene

    reader = VinReading(load=True)
    vehicle, other = cloud.good[0], cloud.good[1]
    seed = next(s for s in range(40) if reader.read(render_scene(other.vin, s)).decision == "accept")
    c, _ = _admit_with_vin_on_camera(
        tmp_path, mqtt_broker, site_pki, cloud, boards, reader, vehicle.owner_id_number, other.vin, seed
    )
    assert c.vin_read.vin == other.vin and c.stage == C.Stage.ADMITTED and c.vin_needs_review


def test_a_read_the_reader_sends_to_review_reaches_the_case_with_its_reason(
    tmp_path, mqtt_broker, site_pki, cloud, boards
):
    """The tablet tells the inspector why the reader wants a person to look."""
    import cv2

    reader = VinReading(load=True)
    vehicle = cloud.good[0]
    seed = seed_kept_for_review(reader, vehicle.vin)
    c, frame = _admit_with_vin_on_camera(
        tmp_path, mqtt_broker, site_pki, cloud, boards, reader, vehicle.owner_id_number, vehicle.vin, seed
    )
    expected = reader.read(cv2.imread(str(frame)))  # the frame as the camera uploaded it
    assert c.stage == C.Stage.ADMITTED and c.vin_needs_review and expected.decision == "review"
    assert c.vin_read.review_reason == expected.review_reason is not None


def test_entry_barrier_fault_holds_the_case_with_an_alert_and_never_crashes(
    tmp_path, mqtt_broker, site_pki, cloud, boards
):
    io, _ = boards

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards, command_timeout_s=1.0)
        await lane.start()
        try:
            cid = await to_records(lane, cloud.good[0].owner_id_number)
            await asyncio.to_thread(io.control().unplug, 4.0)  # the I/O board's cable is pulled for 4 s
            await await_until(lambda: not lane.hw.io.online, 10, "link down seen by the host driver")
            await lane.apply(cid, C.Admit(), "insp-1")
            await await_until(lambda: lane.cases[cid].hold is not None, 15, "hold")
            assert "io-board" in lane.cases[cid].hold and "device:io-board" in lane.alerts
            await await_until(lambda: "device:io-board" not in lane.alerts, 30, "recovery clears the alert")
            await lane.apply(cid, C.Resume(), "insp-1")  # re-runs the pending step: open the entry barrier
            await asyncio.to_thread(io.control().vehicle_pass, "entry")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.ADMITTED, 20, "admitted after resume")
        finally:
            await lane.stop()

    asyncio.run(main())


def test_remote_open_barrier_is_executed_with_its_reason_and_journaled(tmp_path, mqtt_broker, site_pki, cloud, boards):
    io, _ = boards

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
        await lane.start()
        try:
            await await_until(lambda: lane.session.connected.is_set(), 10, "connected")
            cmd = cloud.service.send_command(
                "site-1", "lane-01", CommandName.OPEN_BARRIER, {"barrier": "exit"}, "ops-1", "ambulance"
            )

            def status():
                return next(
                    (c["status"] for c in cloud.storage.commands.recent() if c["request_id"] == cmd.request_id), None
                )

            await await_until(lambda: status() not in (None, "sent"), 15, "command result stored by the bridge")
            assert status() == "done"
            ev = [e for e in lane.journal.events() if e["kind"] == "barrier.actuated"]
            assert ev and ev[0]["data"]["reason"] == "ambulance" and ev[0]["actor"] == "ops-1"
            # "done" is the board's acceptance; the arm then travels (seconds in the world, sped up here)
            await await_until(
                lambda: io.control().state()["barriers"]["exit"]["arm"] == "open", 10, "the arm open in the world"
            )
        finally:
            await lane.stop()

    asyncio.run(main())


@pytest.mark.parametrize("taken", [False, True])
def test_an_expired_plate_reservation_is_renewed_or_the_case_held(
    tmp_path, mqtt_broker, site_pki, cloud, boards, taken
):
    cloud.auto_pay = False  # the owner does not pay in time

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
        await lane.start()
        try:
            cid = await to_records(lane, cloud.good[0].owner_id_number)
            await admit(lane, boards[0].control(), cid)
            await inspect(lane, cid)
            number = lane.cases[cid].plate_options[0]
            await lane.apply(cid, C.ChoosePlate(number), "insp-1")
            await await_until(lambda: lane.cases[cid].payment is not None, 15, "payment started")
            later = time.time() + cloud.settings.plates.reservation_s + 1
            if not taken:
                shots = iter([later])  # the bridge's sweep runs after the reservation ran out (its one clock reading)
                cloud.service.clock = lambda: next(shots, None) or time.time()
                assert cloud.service.sweep()["expired"] == 1
            else:
                # the reservation runs out, someone else takes the number, then the bridge tells the lane
                expired = cloud.storage.plates.expire(later)
                assert [r["number"] for r in expired] == [number]
                assert cloud.storage.plates.reserve(
                    number, lane.cfg.plates.authority, "ordinary", "other-case", "lane-02", 600
                ).ok
                n = Notification(
                    kind=NotificationKind.RESERVATION_EXPIRED, case_id=cid, data={"number": number}, ts=time.time()
                )
                cloud.service.publish(
                    topic("site-1", "lane-01", Leaf.NOTIFY), n.to_bytes(), 1, False
                )  # as the sweep does
            if taken:
                await await_until(lambda: lane.cases[cid].hold is not None, 15, "hold")
                assert "no longer free" in lane.cases[cid].hold
            else:

                def renewed() -> bool:
                    return any(
                        p["number"] == number and p["status"] == "reserved" for p in cloud.storage.plates.numbers(cid)
                    )

                await await_until(renewed, 15, "renewed")
                assert lane.cases[cid].hold is None and lane.cases[cid].stage == C.Stage.PLATE_RESERVED
        finally:
            await lane.stop()

    asyncio.run(main())


def test_a_case_over_the_promise_raises_an_alert(tmp_path, mqtt_broker, site_pki, cloud, boards):
    async def main():
        clock = [time.time()]
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards, clock=lambda: clock[0])
        await lane.start()
        try:
            cid = (await lane.open_case("A", cloud.good[0].owner_id_number, None, "insp-1")).case_id
            clock[0] += 31 * 60  # the lane's clock, not a sleep
            lane.check_promises()
            await await_until(lambda: f"promise:{cid}" in lane.alerts, 5, "promise alert")
        finally:
            await lane.stop()

    asyncio.run(main())


def test_a_new_case_never_takes_the_id_of_a_case_this_lane_journaled(
    tmp_path, mqtt_broker, site_pki, cloud, boards, monkeypatch
):
    """A case id's 24 random bits a day clash now and then (a 1,000-car soak met one at car 497, and the new car's
    case landed on top of the old one's journal): a draw the journal already has is drawn again."""
    draws = iter(["0a0a0a", "0a0a0a", "0b0b0b"])  # the second case draws the first one's serial, then a free one
    monkeypatch.setattr("edge.contract.secrets.token_hex", lambda nbytes: next(draws))

    async def main():
        lane = make_lane(tmp_path, mqtt_broker, site_pki, cloud, boards)
        await lane.start()
        try:
            first = await lane.open_case("A", cloud.good[0].owner_id_number, None, "insp-1")
            await lane.apply(first.case_id, C.Abort("the owner left"), "insp-1")
            assert first.case_id not in lane.cases  # closed: only its journal knows it now
            second = await lane.open_case("A", cloud.good[1].owner_id_number, None, "insp-1")
            assert first.case_id.endswith("-0a0a0a") and second.case_id.endswith("-0b0b0b")
            kinds = [e["kind"] for e in lane.journal.events(0, 1000) if e["case_id"] == second.case_id]
            assert kinds[0] == "case.opened" and "case.aborted" not in kinds  # a case of its own
        finally:
            await lane.stop()

    asyncio.run(main())
