"""The real lane controller (real firmware on simulated boards) runs a whole case against the real bridge over the real broker."""

from __future__ import annotations

import asyncio

import pytest
from bridge_helpers import PAYMENT_KEY, make_settings, wait_for
from lane_helpers import await_until, show_vin, write_lane_toml

from cloud_bridge.reference import generate, load_into
from cloud_bridge.runner import Bridge
from lane_controller import case as C
from lane_controller import runtime
from site_sim.payment_provider import AutoPayer, signed_callback

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_lane_controller_case_is_served_paid_issued_and_stored_event_for_event(
    tmp_path, mqtt_broker, site_pki, payment_key_file
) -> None:
    from edge.config import load_config
    from firmware.sim.server import SimBoardServer
    from lane_controller.hardware import BoardHardware
    from lane_controller.vin_camera import VinReading

    bridge = Bridge(
        make_settings(str(tmp_path / "b.sqlite3"), broker=mqtt_broker, pki=site_pki, key_file=payment_key_file),
        sweep_s=3600,
    ).start()
    data, _ = generate(20, seed=3)
    load_into(bridge.store, data)
    vehicle = next(
        v
        for v in data.vehicles
        if v.insurance.status == "valid" and v.purchase_tax.status != "missing" and v.certificate.vin == v.vin
    )
    payer = AutoPayer(bridge.store.payments.pending, signed_callback(bridge.service, PAYMENT_KEY), period_s=0.1).start()

    io = SimBoardServer("io-board", time_scale=50).start()
    issuer = SimBoardServer("plate-issuer", time_scale=50).start()
    world = io.control()

    async def main() -> str:
        cfg = load_config(
            write_lane_toml(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority="苏A")
        )
        lane = runtime.Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
        await lane.start()
        try:
            cid = (await lane.open_case("A", vehicle.owner_id_number, None, "insp-1")).case_id
            await await_until(lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 30, "partner records")
            if lane.cases[cid].needs_vehicle_choice:  # its owner has another pending car: say which one is here
                await lane.apply(cid, C.ChooseVehicle(vehicle.vin), "insp-1")
            show_vin(tmp_path / "camera", vehicle.vin, seed=1)  # the station camera sees the car that will stand there
            await lane.apply(cid, C.Admit(), "insp-1")
            await asyncio.to_thread(world.vehicle_pass, "entry")  # the world drives the car in
            await await_until(lambda: lane.cases[cid].vin_read is not None, 30, "VIN read")
            if lane.cases[cid].stage == C.Stage.ADMITTED:
                await lane.apply(cid, C.VinConfirm(lane.cases[cid].certificate_vin, "checked by eye"), "insp-1")
            for item in ("vin", "engine", "tyres"):
                await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
            await lane.save_photo(cid, "0111", b"\xff\xd8fake", "insp-1")
            await lane.save_photo(cid, "0113", None, "insp-1")
            await lane.apply(cid, C.Conclude(), "insp-1")
            await await_until(lambda: lane.cases[cid].plate_options, 30, "plate options")
            await lane.apply(cid, C.ChoosePlate(lane.cases[cid].plate_options[0]), "insp-1")
            await await_until(lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED, 60, "payment and issuing")
            await lane.apply(cid, C.Fitted(), "insp-1")
            await lane.apply(cid, C.OpenExit(), "insp-1")
            await asyncio.to_thread(world.vehicle_pass, "exit")
            await await_until(lambda: cid not in lane.cases, 30, "exit")
            last = lane.journal.last_seq()
            await await_until(lambda: lane.journal.acked_seq() == last, 30, "every event acknowledged")
            return cid
        finally:
            await lane.stop()

    try:
        wait_for(lambda: all(w.subscribed.is_set() for w in bridge.workers), 20, "bridge subscribed")
        cid = asyncio.run(main())
        case = bridge.store.case(cid)
        assert (
            case["outcome"] == "registered"
            and case["paid"]
            and case["vin"] == vehicle.vin
            and case["cert_vin"] == vehicle.vin
        )
        assert [p["status"] for p in case["plates"]] == ["issued"] and case["plate"] == case["plates"][0]["number"]
        kinds = [e["kind"] for e in case["timeline"]]
        assert (
            kinds[0] == "case.opened"
            and kinds[-1] == "case.closed"
            and kinds.index("case.paid") < kinds.index("case.plates_issued")
        )
        counts = bridge.store.counts()
        assert counts["duplicates_seen"] >= 0 and counts["missing_seqs"] == 0 and counts["dead_letters"] == 0
        assert not {"plate_without_payment", "plate_issued_twice", "vin_differs_from_certificate"} & {
            a["rule"] for a in bridge.store.alerts.recent("active")
        }
    finally:
        payer.stop()
        bridge.stop()
        io.stop()
        issuer.stop()
