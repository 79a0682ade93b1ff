"""The live exam vehicle's numbers: CPU of `passlane exam run` at 10 Hz, and how soon what the judge decides is published.

A real unit process against a simulated car (NMEA over socket:// at 10 Hz, the vehicle-board firmware on the
simulated car), the real broker and bridge. Each of the car's exam events is timed from the moment the
drive sent the input that completed it (the NMEA of an epoch, or a signal change to the vehicle board: the last
input sent before the event's stamp) to its arrival at an MQTT subscriber of the unit's events leaf; the link
latency is each epoch's send time against its stamp in the track.
The unit judges on its own clock here (`[exam] time_base = "unit"`): its stamps are then this machine's wall clock,
comparable with the drive's send times (on the default GNSS time base they are the receiver's fix times); what
runs per epoch is the same.
Targets: CPU <= 5 % of one core; fault to published p99 <= 100 ms.
"""

from __future__ import annotations

import bisect
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoBroker, free_port
from edge.contract import EventEnvelope, Leaf, split_events, topic
from edge.pki import SitePki
from edge.stats import percentile
from exam_vehicle.gnss import Epoch
from exam_vehicle.signals import SignalChange
from firmware.sim.server import SimBoardServer
from site_sim.exam_car import PROFILES, drive_exam, nmea_sentences
from site_sim.exam_drive import CarSignals, ExamDrive, NmeaServer
from site_sim.polling import wait_until
from site_sim.unit_configs import exam_vehicle_toml

SITE, UNIT = "bench", "car-01"
REPO = str(Path(__file__).resolve().parents[2])


class TimedDrive(ExamDrive):
    """The drive, remembering when each epoch's sentences left (by fix time) and when each input left at all."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent: dict[str, float] = {}
        self.inputs_sent: list[float] = []  # wall times at which an epoch or a signal change went to the car
        sentences, apply = self.sentences, self.signals.apply

        def timed(epoch: Epoch) -> list[bytes]:
            out = sentences(epoch)
            self.sent[epoch.time] = self.inputs_sent_now()
            return out

        def timed_apply(change: SignalChange) -> None:
            self.inputs_sent_now()
            apply(change)

        self.sentences = timed
        self.signals.apply = timed_apply  # type: ignore[method-assign]

    def inputs_sent_now(self) -> float:
        now = time.time()
        self.inputs_sent.append(now)
        return now


def _listen(broker: MosquittoBroker, pki: SitePki, arrivals: list[tuple[float, EventEnvelope]]) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-listen-{os.getpid()}", protocol=mqtt.MQTTv5)
    c.tls_set_context(ssl.create_default_context(cafile=str(pki.ca_cert)))
    c.username_pw_set("bridge", pki.password("bridge"))
    c.on_connect = lambda cl, *a: cl.subscribe(topic(SITE, UNIT, Leaf.EVENTS), 1)

    def on_message(cl: mqtt.Client, u: Any, m: mqtt.MQTTMessage) -> None:
        now = time.time()
        batch = split_events(bytes(m.payload))  # the unit's outbox packs events that are pending together
        for ev in (
            [EventEnvelope.model_validate_json(m.payload)]
            if batch is None
            else map(EventEnvelope.model_validate, batch)
        ):
            arrivals.append((now, ev))

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def _config(
    tmp: Path, broker: MosquittoBroker, pki: SitePki, nmea: NmeaServer, board: SimBoardServer, port: int
) -> Path:
    path = tmp / "exam-vehicle.toml"
    path.write_text(exam_vehicle_toml(SITE, UNIT, broker, pki, nmea.url, board.url, port, exam={"time_base": "unit"}))
    return path


def measure(profile: str = "bay-stop-3s", seconds: float = 120.0) -> dict[str, Any]:
    """Drive `seconds` of the profile against a unit process; the unit's CPU and the event latencies."""
    from cloud_bridge.config import load_settings
    from cloud_bridge.runner import Bridge

    with tempfile.TemporaryDirectory(prefix="passlane-bench-car-") as tmp_name:
        tmp = Path(tmp_name)
        pki = SitePki(tmp / "pki")
        pki.init(SITE, {"bridge": "bridge", "ops": "ops", UNIT: "exam-vehicle"})
        broker = MosquittoBroker(pki, tmp / "broker")
        broker.start()
        key = tmp / "payment.key"
        key.write_text("bench-key-0123456789abcdef0123456789")
        bridge = Bridge(
            load_settings(
                None,
                {
                    "db": str(tmp / "bridge.sqlite3"),
                    "payments.key_file": str(key),
                    "mqtt.host": broker.host,
                    "mqtt.port": broker.port,
                    "mqtt.site_dir": str(pki.root),
                },
            ),
            sweep_s=3600,
        ).start()
        board, nmea = SimBoardServer("vehicle-board").start(), NmeaServer()
        arrivals: list[tuple[float, EventEnvelope]] = []
        listener = _listen(broker, pki, arrivals)
        port = free_port()
        unit_log = (tmp / "unit.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "exam",
                "run",
                "--config",
                str(_config(tmp, broker, pki, nmea, board, port)),
                "--start",
                "bench",
            ],
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": REPO},
            stdout=subprocess.DEVNULL,
            stderr=unit_log,
        )
        try:
            _wait_served(proc, port, tmp / "unit.log")
            _, inputs, _ = drive_exam(PROFILES[profile][0])
            t0 = inputs[0].t
            drive = TimedDrive(
                [i for i in inputs if i.t - t0 <= seconds], nmea, CarSignals(board.control()), nmea_sentences
            )
            drive.start()
            wait_until(lambda: ((_status(port) or {}).get("exam") or {}).get("running"), 60, "the exam started")
            unit = psutil.Process(proc.pid)
            c0, w0 = unit.cpu_times(), time.monotonic()
            drive.done.wait(seconds + 60)
            c1, w1 = unit.cpu_times(), time.monotonic()
            wait_until(lambda: (_status(port) or {}).get("outbox", {}).get("depth") == 0, 30, "delivered")
            tracks = tmp / "var" / "tracks"  # a finished exam's track is renamed once its upload is acknowledged
            track = next(p for p in [*tracks.glob("*.jsonl"), *tracks.glob("*.jsonl.uploaded")])
            stamped = {
                o["time"]: o["t"] for o in map(json.loads, track.read_text().splitlines()) if o.get("kind") == "epoch"
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            unit_log.close()
            listener.loop_stop()
            listener.disconnect()
            nmea.close()
            board.stop()
            bridge.stop()
            broker.stop()
    cpu_pct = 100.0 * ((c1.user - c0.user) + (c1.system - c0.system)) / (w1 - w0)
    sent_by_t = sorted((stamped[k], s) for k, s in drive.sent.items() if k in stamped)
    link = [t - s for t, s in sent_by_t]
    last_input = drive.inputs_sent[-1] if drive.inputs_sent else 0.0
    decided = [  # what the drive's inputs made the judge decide (not what stopping the unit after the drive says)
        (at, ev)
        for at, ev in arrivals
        if ev.kind.value.startswith("exam.")
        and ev.kind.value not in ("exam.started", "exam.track_chunk")
        and ev.ts <= last_input + 0.05
    ]
    total = [at - _input_before(drive.inputs_sent, ev.ts) for at, ev in decided]
    deductions = [
        at - _input_before(drive.inputs_sent, ev.ts) for at, ev in decided if ev.kind.value == "exam.deduction"
    ]
    return {
        "cpu_pct": cpu_pct,
        "seconds": w1 - w0,
        "epochs": len(link),
        "link_ms": [x * 1000 for x in link],
        "event_ms": [x * 1000 for x in total],
        "deduction_ms": [x * 1000 for x in deductions],
        "events": len(decided),
    }


def _input_before(sent: list[float], t: float) -> float:
    """When the input that completed an event went to the car: the last epoch or signal change sent before the
    event's stamp `t` (the unit stamps an input on arrival, on this machine's clock here)."""
    i = bisect.bisect_right(sent, t + 1e-9)
    return sent[max(0, i - 1)]


def _wait_served(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60.0) -> None:
    """Wait for the unit's page; a unit that exits or never serves fails with its own last words."""
    deadline = time.monotonic() + timeout
    while _status(port) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            state = (
                f"exited with {proc.returncode}" if proc.returncode is not None else f"not serving after {timeout:.0f}s"
            )
            tail = log.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"the exam unit is {state}; its log ends:\n{tail}")
        time.sleep(0.05)


def _status(port: int) -> dict[str, Any] | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None


def rows(m: dict[str, Any]) -> list[tuple[str, str, str]]:
    def ms(values: list[float]) -> str:
        return (
            f"p50 {percentile(values, 50) or 0:.1f} ms, p99 {percentile(values, 99) or 0:.1f} ms, n={len(values)}"
            if values
            else "none"
        )

    return [
        (
            "unit CPU at 10 Hz",
            f"{m['cpu_pct']:.1f} % of one core",
            f"target <= 5 %, over {m['seconds']:.0f} s, {m['epochs']} epochs",
        ),
        ("sentences sent -> epoch complete", ms(m["link_ms"]), "socket://, the reader, the unit's stamp"),
        (
            "epoch -> exam event at a subscriber",
            ms(m["event_ms"]),
            f"{m['events']} events: items, deductions, the result",
        ),
        ("  of which deductions", ms(m["deduction_ms"]), "target p99 <= 100 ms"),
    ]
