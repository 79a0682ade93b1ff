"""One lane controller under test, with everything around it real: the rig that `bench lane` and `bench soak` share.

A private TLS Mosquitto, the real cloud bridge in-process (SQLite store, generated
reference data; payments confirmed by the simulated provider's signed callback as
soon as they are pending), the real firmware of the I/O board and the plate issuer
on the simulated world (sped up), a camera folder, and ``passlane lane run`` as a
child process with the VIN model loaded. A scripted inspector signs in over HTTP.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from edge.broker import free_port
from site_sim.payment_provider import AutoPayer, signed_callback
from site_sim.polling import wait_until

REPO = str(Path(__file__).resolve().parents[2])  # run the repo's code, whatever the cwd
_PROVIDER_KEY = b"bench-provider-key-0123456789abcdef"


def bench_bridge(work: Path, broker: Any, pki: Any, key: Path) -> Any:
    """The real cloud bridge on ``broker``, SQLite store in ``work``, subscribed before it is returned."""
    from cloud_bridge.config import load_settings
    from cloud_bridge.runner import Bridge

    settings = load_settings(
        None,
        {
            "db": str(work / "bridge.sqlite3"),
            "payments.key_file": str(key),
            "ingest.batch_wait_ms": 2.0,
            "mqtt.host": broker.host,
            "mqtt.port": broker.port,
            "mqtt.site_dir": str(pki.root),
            "mqtt.client_id_prefix": f"bench-bridge-{os.getpid()}",
        },
    )
    bridge = Bridge(settings, sweep_s=3600).start()
    wait_until(lambda: all(w.subscribed.is_set() for w in bridge.workers), 30, "bridge subscribed", interval=0.05)
    return bridge


def _lane_toml(broker: Any, pki: Any, io_url: str, issuer_url: str, camera: Path, authority: str, port: int) -> str:
    return f'''
site = "site-1"
unit = "lane-01"
[mqtt]
host = "{broker.host}"
port = {broker.port}
password = {{ file = "{pki.password_file("lane-01")}" }}
tls = {{ ca_file = "{pki.ca_cert}" }}
[journal]
path = "var/lane.sqlite"
[clock]
require_sync = false
[io_board]
url = "{io_url}"
[plate_issuer]
url = "{issuer_url}"
[camera]
source = "{camera}"
[plates]
authority = "{authority}"
[telemetry]
interval_s = 30
[ui]
port = {port}
[[inspectors]]
id = "bench"
name = "Bench"
pin = {{ file = "pin" }}
'''


class LaneRig:
    """Start with ``with LaneRig(vehicles, time_scale) as rig``; ``rig.http`` is signed in, ``rig.good`` lists
    registrable vehicles (at least ``vehicles`` + 1), ``rig.world`` / ``rig.mechanism`` control the simulated
    lane and plate issuer, ``rig.process`` is the lane's ``psutil.Process``."""

    def __init__(self, vehicles: int, time_scale: float) -> None:
        self.vehicles = vehicles
        self.time_scale = time_scale
        self.work = Path(tempfile.mkdtemp(prefix="passlane-lane-bench-"))
        self.camera = self.work / "camera"
        self.log = self.work / "lane.log"
        self._parts: list[Any] = []  # stopped in reverse order
        self.proc: subprocess.Popen[bytes] | None = None
        self.payer: AutoPayer | None = None
        self.start_s = 0.0

    def __enter__(self) -> LaneRig:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        from cloud_bridge.reference import generate, load_into
        from edge.broker import MosquittoBroker
        from edge.pki import SitePki
        from firmware.sim.server import SimBoardServer

        self.pki = SitePki(self.work / "pki")
        self.pki.init("site-1", {"bridge": "bridge", "lane-01": "lane", "lane-02": "lane"})
        self.broker = self._own(MosquittoBroker(self.pki, self.work / "broker").start())
        self.key = self.work / "payment.key"
        self.key.write_bytes(_PROVIDER_KEY)
        self.bridge = self._own(bench_bridge(self.work, self.broker, self.pki, self.key))
        data, problems = generate(self.vehicles * 2 + 20, seed=7)
        load_into(self.bridge.store, data)
        bad = {v for vs in problems.values() for v in vs}
        self.good = [
            v
            for v in data.vehicles
            if v.vin not in bad
            and v.owner_id_number not in bad
            and v.insurance.status == "valid"
            and v.purchase_tax.status != "missing"
            and v.certificate.vin == v.vin
        ]
        if len(self.good) < self.vehicles + 1:
            raise RuntimeError(f"only {len(self.good)} registrable vehicles in the reference data")
        self.payer = AutoPayer(
            self.bridge.store.payments.pending, signed_callback(self.bridge.service, _PROVIDER_KEY), period_s=0.005
        ).start()
        io = self._own(SimBoardServer("io-board", time_scale=self.time_scale).start())
        issuer = self._own(SimBoardServer("plate-issuer", time_scale=self.time_scale).start())
        self.world, self.mechanism = io.control(), issuer.control()
        self._start_lane(io.url, issuer.url)

    def _own(self, part: Any) -> Any:
        self._parts.append(part)
        return part

    def _start_lane(self, io_url: str, issuer_url: str) -> None:
        (self.work / "pin").write_text("1234\n")
        self.camera.mkdir()
        port = free_port()
        cfg = self.work / "lane.toml"
        authority = self.bridge.settings.authorities[0]
        cfg.write_text(_lane_toml(self.broker, self.pki, io_url, issuer_url, self.camera, authority, port))
        with open(self.log, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(cfg)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO,
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        t_start = time.monotonic()
        wait_until(self._up, 120, "lane start", interval=0.1)
        self.start_s = time.monotonic() - t_start
        tok = self.http.post("/api/session", json={"inspector_id": "bench", "pin": "1234"}).json()["token"]
        self.http.headers["Authorization"] = f"Bearer {tok}"
        self.process = psutil.Process(self.proc.pid)

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"lane exited with {self.proc.returncode}: {self.log_tail(800)}")
        try:
            return self.http.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        return dict(self.http.get("/api/health").json())

    def wait_outbox_drained(self, timeout_s: float = 30) -> dict[str, Any]:
        """The lane's health once every journaled event has been acknowledged by the bridge."""
        wait_until(lambda: self.health()["outbox"]["depth"] == 0, timeout_s, "outbox drained", interval=0.05)
        return self.health()

    def stop_lane(self) -> None:
        """SIGTERM the lane and wait for its clean exit (the bridge and broker keep running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def close(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        if self.payer is not None:
            self.payer.stop()
            self.payer = None
        self.stop_lane()
        for part in reversed(self._parts):
            try:
                part.stop()
            except Exception:  # noqa: BLE001 - tearing down; the table is what matters
                pass
        self._parts.clear()
        shutil.rmtree(self.work, ignore_errors=True)
