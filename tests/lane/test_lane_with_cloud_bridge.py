"""The lane against the real cloud bridge (cloud_bridge.runner.Bridge, SQLite store) over the real broker:
partner records, plate options and reservation, payment confirmed by a signed provider callback, events stored."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from lane_helpers import await_until, lane_config, wait_until

from cloud_bridge import payments
from cloud_bridge.config import load_settings
from cloud_bridge.reference import generate, load_into
from cloud_bridge.runner import Bridge
from lane_controller import case as C
from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading

pytestmark = pytest.mark.broker
KEY = b"lane-test-provider-key-0123456789"


@pytest.fixture
def bridge(tmp_path, mqtt_broker, site_pki):
    key = tmp_path / "payment.key"
    key.write_bytes(KEY)
    settings = load_settings(
        None,
        {
            "db": str(tmp_path / "bridge.sqlite3"),
            "payments.key_file": str(key),
            "ingest.batch_wait_ms": 2.0,
            "mqtt.host": mqtt_broker.host,
            "mqtt.port": mqtt_broker.port,
            "mqtt.site_dir": str(site_pki.root),
            "mqtt.client_id_prefix": f"bridge-{uuid.uuid4().hex[:6]}",
        },
    )
    b = Bridge(settings, sweep_s=3600).start()
    wait_until(lambda: all(w.subscribed.is_set() for w in b.workers), 30, "bridge subscribed")
    data, problems = generate(20, seed=3)
    load_into(b.store, data)
    bad = {v for vs in problems.values() for v in vs}
    owners = Counter(v.owner_id_number for v in data.vehicles)  # (an ID card that finds one car: no choice to make)
    b.good = [
        v for v in data.vehicles if v.vin not in bad and v.owner_id_number not in bad and owners[v.owner_id_number] == 1
    ]
    yield b
    b.stop()


def test_a_case_runs_end_to_end_against_the_cloud_bridge(tmp_path, mqtt_broker, site_pki, bridge, boards):
    vehicle = bridge.good[0]
    authority = bridge.settings.authorities[0]
    http = TestClient(bridge.app())

    async def main():
        io, issuer = boards
        cfg = lane_config(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=authority)
        lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
        await lane.start()
        try:
            cid = (await lane.open_case("A", vehicle.owner_id_number, None, "insp-1")).case_id
            await await_until(
                lambda: lane.cases[cid].stage == C.Stage.RECORDS_FETCHED, 15, "partner records from the bridge"
            )
            c = lane.cases[cid]
            assert c.certificate_vin == vehicle.vin and not c.record_problems, c.record_problems
            await lane.apply(cid, C.Admit(), "insp-1")
            await asyncio.to_thread(boards[0].control().vehicle_pass, "entry")
            await await_until(lambda: lane.cases[cid].vin_read is not None, 20, "VIN read")
            await lane.apply(cid, C.VinConfirm(vehicle.vin, "checked by eye"), "insp-1")
            for item in ("vin", "engine", "tyres"):
                await lane.apply(cid, C.MarkItem(item, "pass"), "insp-1")
            await lane.save_photo(cid, "0111", b"x", "insp-1")
            await lane.save_photo(cid, "0113", b"x", "insp-1")
            await lane.apply(cid, C.Conclude(), "insp-1")
            await await_until(lambda: lane.cases[cid].plate_options, 15, "plate options from the bridge")
            number = lane.cases[cid].plate_options[0]
            assert number.startswith(authority)
            await lane.apply(cid, C.ChoosePlate(number), "insp-1")
            await await_until(lambda: lane.cases[cid].payment is not None, 15, "payment started")
            pay = lane.cases[cid].payment
            body = payments.callback_body(pay["payment_id"], pay["amount_cents"])
            r = await asyncio.to_thread(
                http.post, "/api/payments/notify", content=body, headers={payments.HEADER: payments.sign(KEY, body)}
            )
            assert r.status_code == 200, r.text
            await await_until(
                lambda: lane.cases[cid].stage == C.Stage.PLATES_ISSUED,
                60,
                "payment.confirmed from the bridge, then issuing",
            )
            await lane.apply(cid, C.Fitted(), "insp-1")
            await lane.apply(cid, C.OpenExit(), "insp-1")
            await asyncio.to_thread(boards[0].control().vehicle_pass, "exit")
            await await_until(lambda: cid not in lane.cases, 20, "exit")
            last = lane.journal.last_seq()
            await await_until(lambda: lane.journal.acked_seq() >= last, 20, "the bridge acknowledged every event")
            return cid, number
        finally:
            await lane.stop()

    cid, number = asyncio.run(main())
    stored = bridge.store.case(cid)
    assert stored is not None
    assert stored["outcome"] == "registered" and stored["plate"] == number and stored["paid"] is True, stored
