"""Two bridge worker processes share the load; one is killed mid-stream: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from bridge_helpers import wait_for

from cloud_bridge.store import open_store

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PER_LANE = 500
LANES = ("lane-01", "lane-02", "lane-03")


class WorkerProcess:
    def __init__(self, db: str, broker, pki, prefix: str, base: int, log: Path) -> None:
        self.args = [
            sys.executable,
            "-m",
            "edge.cli",
            "bridge",
            "serve",
            "--db",
            db,
            "--http",
            "none",
            "--workers",
            "1",
            "--worker-base",
            str(base),
            "--client-id-prefix",
            prefix,
            "--mqtt-host",
            broker.host,
            "--mqtt-port",
            str(broker.port),
            "--site-dir",
            str(pki.root),
        ]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(
            lambda: self.log.read_text(errors="replace").count("subscribed") >= self.starts,
            20,
            f"worker subscribed ({self.log.name})",
        )

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_two_workers_one_killed_mid_stream_lose_and_double_nothing(
    db_url, mqtt_broker, site_pki, lane_factory, tmp_path
) -> None:
    store = open_store(db_url)
    store.migrate()
    prefix = f"bridge-{uuid.uuid4().hex[:6]}"
    a = WorkerProcess(db_url, mqtt_broker, site_pki, prefix, 0, tmp_path / "a.log")
    b = WorkerProcess(db_url, mqtt_broker, site_pki, prefix, 1, tmp_path / "b.log")
    try:
        a.start()
        b.start()
        lanes = [lane_factory(u) for u in LANES]

        def publish(lane, first: int, last: int) -> None:
            for seq in range(first, last + 1):
                lane.client.publish(
                    f"passlane/v1/site-1/{lane.unit}/events",
                    lane.event(seq, "case.inspection_item", f"{lane.unit}-261206-{seq // 20:06x}", item=seq).to_bytes(),
                    qos=1,
                )
            lane.client.publish(
                f"passlane/v1/site-1/{lane.unit}/events",
                lane.event(last, "case.inspection_item", f"{lane.unit}-261206-{last // 20:06x}", item=last).to_bytes(),
                qos=1,
            ).wait_for_publish(30)

        threads = [threading.Thread(target=publish, args=(lane, 1, PER_LANE // 2)) for lane in lanes]
        for t in threads:
            t.start()
        wait_for(lambda: store.counts()["events_stored"] >= len(LANES) * PER_LANE // 8, 30, "some events stored")
        b.kill()  # mid-stream: messages it received but had not acknowledged are redelivered to its session
        for t in threads:
            t.join(60)
        threads = [threading.Thread(target=publish, args=(lane, PER_LANE // 2 + 1, PER_LANE)) for lane in lanes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        b.start()  # the same client id: its persistent session is resumed and the broker delivers what it queued
        wait_for(lambda: store.counts()["events_stored"] >= len(LANES) * PER_LANE, 60, "every event stored")
        wait_for(
            lambda: all(lane.acked == PER_LANE for lane in lanes), 30, "every lane acknowledged up to its last seq"
        )
        counts = store.counts()
        assert counts["events_stored"] == len(LANES) * PER_LANE
        for lane in lanes:
            seqs = [e["seq"] for e in store.unit_records.events(lane.unit, 0, 10000)]
            assert seqs == list(range(1, PER_LANE + 1)), f"{lane.unit}: missing or doubled"
        assert counts["missing_seqs"] == 0
        # the case view folded every event once, although the two workers shared each case's events
        assert store.cases.folded_events() == store.unit_records.events_per_case()
    finally:
        a.stop()
        b.stop()
        store.close()
