"""The real cloud bridge for the lane and edge-runtime tests, started in-process.

The lane talks to ``cloud_bridge.runner.Bridge`` (SQLite store) over the test's
real TLS Mosquitto, never to a stand-in. Reference data comes from
``cloud_bridge.reference.generate``; a payment is confirmed the way the
provider confirms it in the field: a signed callback into the bridge
(``SimulatedProvider`` models the provider, which is outside our software).
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from cloud_bridge.config import load_settings
from cloud_bridge.reference import generate, load_into
from cloud_bridge.runner import Bridge
from cloud_bridge.store import Store
from site_sim.payment_provider import AutoPayer, signed_callback
from site_sim.polling import wait_until

PAYMENT_KEY = b"lane-test-provider-key-0123456789"


class RealCloud:
    """One running bridge plus what a test needs to look at it: stored events, good partner records,
    and the payment provider (paying every pending payment at once while ``auto_pay`` is set)."""

    def __init__(self, work: Path, broker, pki, *, vehicles: int = 40, seed: int = 3, auto_pay: bool = True) -> None:
        work.mkdir(parents=True, exist_ok=True)
        key = work / "payment.key"
        key.write_bytes(PAYMENT_KEY)
        self.settings = load_settings(
            None,
            {
                "db": str(work / "bridge.sqlite3"),
                "payments.key_file": str(key),
                "ingest.batch_wait_ms": 2.0,
                "mqtt.host": broker.host,
                "mqtt.port": broker.port,
                "mqtt.site_dir": str(pki.root),
                "mqtt.client_id_prefix": f"bridge-{uuid.uuid4().hex[:6]}",
            },
        )
        self.data, problems = generate(vehicles, seed=seed)
        bad = {v for vs in problems.values() for v in vs}
        registrable = [
            v
            for v in self.data.vehicles
            if v.vin not in bad
            and v.owner_id_number not in bad
            and v.insurance.status == "valid"
            and v.purchase_tax.status != "missing"
            and v.certificate.vin == v.vin
        ]
        owners = Counter(v.owner_id_number for v in self.data.vehicles)
        # the tests open cases by ID card: `good` cars are their owner's only pending one (the look-up finds that
        # car), `fleet` cars share an owner with another (the inspector is asked which one is at the lane)
        self.good = [v for v in registrable if owners[v.owner_id_number] == 1]
        self.fleet = [v for v in registrable if owners[v.owner_id_number] > 1]
        self._auto_pay = auto_pay
        self.bridge: Bridge | None = None
        self._payer: AutoPayer | None = None

    @property
    def auto_pay(self) -> bool:
        return self._auto_pay

    @auto_pay.setter
    def auto_pay(self, on: bool) -> None:
        """Owners pay at once (True), or not at all (False: a reservation runs out)."""
        self._auto_pay = on
        if self._payer is not None:
            self._payer.enabled = on

    @property
    def storage(self) -> Store:
        """The running bridge's store (its repositories by area)."""
        assert self.bridge is not None
        return self.bridge.store

    @property
    def service(self):
        assert self.bridge is not None
        return self.bridge.service

    def start(self) -> RealCloud:
        self.bridge = Bridge(self.settings, sweep_s=3600).start()
        wait_until(
            lambda: all(w.subscribed.is_set() for w in self.bridge.workers), 30, "bridge subscribed", interval=0.02
        )
        load_into(self.bridge.store, self.data)
        self._payer = AutoPayer(
            self.bridge.store.payments.pending, signed_callback(self.bridge.service, PAYMENT_KEY)
        ).start()
        self._payer.enabled = self._auto_pay
        return self

    def stop(self) -> None:
        if self._payer is not None:
            self._payer.stop()
            self._payer = None
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None

    def pay(self, payment_id: str, amount_cents: int) -> tuple[int, dict[str, Any]]:
        """The owner pays: the provider's signed callback reaches the bridge."""
        return signed_callback(self.service, PAYMENT_KEY)(payment_id, amount_cents)

    # ------------------------------------------------------------ looking at what the bridge stored
    def events(self, unit: str = "lane-01") -> dict[int, dict[str, Any]]:
        """Every stored event of ``unit`` by seq (the bridge keeps one row per (unit, seq))."""
        out: dict[int, dict[str, Any]] = {}
        after = 0
        while True:
            rows = self.storage.unit_records.events(unit, after, 1000)
            if not rows:
                return out
            for r in rows:
                out[int(r["seq"])] = r
            after = int(rows[-1]["seq"])

    def watermark(self, unit: str = "lane-01") -> int:
        for w in self.storage.unit_records.watermarks():
            if w["unit"] == unit:
                return int(w["acked_seq"])
        return 0

    def duplicates(self) -> int:
        return int(self.storage.counts().get("duplicates_seen") or 0)
