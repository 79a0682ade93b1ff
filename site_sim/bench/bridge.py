"""`passlane bench bridge`: ingest rate and latency, look-up and plate-reservation latency. Plain-text tables.

Everything is real and private to the run: a site PKI with K lane accounts,
a TLS Mosquitto (fresh per configuration, so no session of an earlier run
takes messages), bridge workers as `passlane bridge serve` subprocesses,
a private PostgreSQL cluster, and simulated lanes in a separate process.

* broker only: a bare subscriber (QoS 1, plain subscription) counts the same
  messages; its rate is the limit the bridge is compared with.
* saturation: every lane publishes its share as fast as QoS 1 allows; the
  rate is events / (first publish -> last event acknowledged by the bridge's
  retained `ack` watermark, i.e. committed).
* latency below saturation: the lanes then publish at half the measured
  rate; latency is lane publish -> the first watermark covering the event
  (so it includes the commit and the ack's trip back to the lane).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository (site_sim/bench/ is two below it)
SITE = "bench"
PACED_FRACTIONS = (0.25, 0.5)
PACKED_PEER = "broker only, packed"
PACKED = "SQLite, packed"
OUTBOX_WINDOW = 200  # events a lane's outbox has in flight at most (edge.config OutboxConfig.batch)  # latency is measured at these shares of the flat-out rate
FLOW = [
    "case.opened",
    "case.partner_records",
    "case.admitted",
    "case.vin_read",
    "case.vin_confirmed",
    "case.inspection_item",
    "case.inspected",
    "case.plate_reserved",
    "case.paid",
    "case.plates_issued",
    "case.closed",
]


def _lane_units(k: int) -> list[str]:
    return [f"lane-{i:02d}" for i in range(1, k + 1)]


def _event_bytes(unit: str, seq: int, ts: float) -> bytes:
    from edge.contract import EventEnvelope

    case_no, step = divmod(seq - 1, len(FLOW))
    kind = FLOW[step]
    case_id = f"{unit}-261206-{case_no:06x}"
    data: dict[str, Any] = {"station": "s1"}
    if kind == "case.vin_confirmed":
        data = {"vin": "LSVAU218XN2183294", "read_vin": "LSVAU218XN2183294", "confidence": 0.97}
    elif kind in ("case.plate_reserved", "case.plates_issued"):
        data = {"number": f"苏A{unit[-1]}{case_no % 10000:04d}"}
    elif kind == "case.inspected":
        data = {"duration_s": 240, "conclusion": "pass"}
    elif kind == "case.inspection_item":
        data = {"item": "vin", "result": "pass", "photo": "0113"}
    return EventEnvelope(unit=unit, seq=seq, ts=ts, kind=kind, case_id=case_id, actor="insp-01", data=data).to_bytes()


class _Broker:
    """The private broker with `set_tcp_nodelay true` (without it, Nagle's algorithm and delayed ACKs add ~40 ms to every
    request/response round trip; see the bench notes in docs/bridge.md)."""

    @staticmethod
    def make(pki: Any, work_dir: Path) -> Any:
        from edge.broker import MosquittoBroker

        class NoDelayBroker(MosquittoBroker):
            def write_config(self) -> Path:
                path = super().write_config()
                with open(path, "a") as fh:
                    fh.write("set_tcp_nodelay true\n")
                return path

        return NoDelayBroker(pki, work_dir)


def _nodelay(c: Any) -> None:
    import socket

    sock = c.socket()
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _client(pki_root: str, user: str, cid: str) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.pki import SitePki

    pki = SitePki(pki_root)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
    c.username_pw_set(user, pki.password(user))
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.on_connect = lambda cl, *a: _nodelay(cl)
    return c


# ---------------------------------------------------------------- the lanes (a separate process)


def _lane_clients(
    pki_root: str, host: str, port: int, units: list[str], bridge_mode: bool
) -> tuple[list[tuple[str, Any]], dict[str, list[tuple[int, float]]]]:
    """One connected client per lane; with the bridge, each records the watermarks (seq, time) it is sent."""
    from edge.contract import Leaf, topic

    clients = []
    acks: dict[str, list[tuple[int, float]]] = {u: [] for u in units}
    for u in units:
        c = _client(pki_root, u, f"{u}-bench-{uuid.uuid4().hex[:4]}")
        subscribed = threading.Event()

        def on_message(cl, ud, m, u=u) -> None:  # noqa: ANN001
            if not m.retain:  # a retained watermark is from an earlier run
                acks[u].append((json.loads(m.payload)["acked_seq"], time.time()))

        c.on_message = on_message
        c.on_subscribe = lambda *a, ev=subscribed: ev.set()
        c.connect(host, port, 30)
        c.loop_start()
        if bridge_mode:
            c.subscribe(topic(SITE, u, Leaf.ACK), 1)
            if not subscribed.wait(10):
                raise RuntimeError(f"{u}: no subscription")
        clients.append((u, c))
    return clients, acks


def _lanes_proc(
    pki_root: str,
    host: str,
    port: int,
    units: list[str],
    n_sat: int,
    paced_s: float,
    bridge_mode: bool,
    cmd_q: Any,
    out_q: Any,
    packed: bool = False,
) -> None:
    """Publish n_sat events per lane flat out, wait until consumed, then publish at half that rate; report.

    `packed`: flat out, each lane sends what is pending as its outbox does (edge.outbox: a window of 200 events
    packed by edge.contract.pack_events), the paced events each alone as they occur."""
    from edge.contract import Leaf, batch_bytes, pack_events, topic

    try:
        clients, acks = _lane_clients(pki_root, host, port, units, bridge_mode)
        pub_ts: dict[str, dict[int, float]] = {u: {} for u in units}

        def run(u: str, c: Any, first: int, last: int, rate_per_lane: float | None, barrier: threading.Barrier) -> None:
            t_events = topic(SITE, u, Leaf.EVENTS)
            barrier.wait()
            start = time.time()
            info = None
            if packed and not rate_per_lane:
                for low in range(first, last + 1, OUTBOX_WINDOW):
                    seqs = list(range(low, min(low + OUTBOX_WINDOW, last + 1)))
                    ts = time.time()
                    payloads = [_event_bytes(u, seq, ts) for seq in seqs]
                    for group in pack_events(u, payloads):
                        for i in group:
                            pub_ts[u][seqs[i]] = ts
                        info = c.publish(t_events, batch_bytes(u, [payloads[i] for i in group]), qos=1)
                if info is not None:
                    info.wait_for_publish(120)
                return
            for seq in range(first, last + 1):
                if rate_per_lane:
                    delay = start + (seq - first) / rate_per_lane - time.time()
                    if delay > 0:
                        time.sleep(delay)  # pacing the publisher, not synchronisation
                ts = time.time()
                pub_ts[u][seq] = ts
                info = c.publish(t_events, _event_bytes(u, seq, ts), qos=1)
            if info is not None:
                info.wait_for_publish(120)

        def phase(first: int, last: int, rate: float | None) -> float:
            barrier = threading.Barrier(len(clients) + 1)
            threads = [threading.Thread(target=run, args=(u, c, first, last, rate, barrier)) for u, c in clients]
            for t in threads:
                t.start()
            barrier.wait()
            t0 = time.time()
            for t in threads:
                t.join()
            return t0

        def consumed(last: int) -> float:
            if not bridge_mode:
                msg = cmd_q.get(timeout=300)
                return float(msg[1])
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                done = [next((t for s, t in list(acks[u]) if s >= last), None) for u in units]
                acked = [d for d in done if d is not None]
                if len(acked) == len(done):
                    return max(acked)
                time.sleep(0.02)
            raise RuntimeError("the bridge did not acknowledge every event within 300 s")

        t0 = phase(1, n_sat, None)
        out_q.put(("sat_published", t0))
        t_done = consumed(n_sat)
        rate = len(units) * n_sat / (t_done - t0)
        sat_lat = _latencies(acks, pub_ts, 1, n_sat) if bridge_mode else []
        paced = []
        first = n_sat + 1
        for frac in () if packed else PACED_FRACTIONS:  # (latency is a lane's events one by one: the plain rows)
            per_lane = max(1.0, frac * rate / len(units))
            n_paced = max(10, int(per_lane * paced_s))
            out_q.put(("paced_started", n_paced, frac * rate))
            t1 = phase(first, first + n_paced - 1, per_lane)
            t1_done = consumed(first + n_paced - 1)
            paced.append(
                {
                    "frac": frac,
                    "first": first,
                    "n": n_paced,
                    "achieved": len(units) * n_paced / (t1_done - t1),
                    "lat": _latencies(acks, pub_ts, first, first + n_paced - 1) if bridge_mode else [],
                }
            )
            first += n_paced
        out_q.put(
            (
                "report",
                {"t0": t0, "t_done": t_done, "rate": rate, "sat_lat": sat_lat, "paced": paced, "last_seq": first - 1},
            )
        )
        for _, c in clients:
            c.disconnect()
            c.loop_stop()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out_q.put(("error", repr(exc)))


class Counter:
    """The broker-only limit: a bare QoS 1 subscriber (own paho client and network thread) counting the lanes' events."""

    def __init__(self, pki_root: str, host: str, port: int) -> None:
        self.c = _client(pki_root, "bridge", f"counter-{uuid.uuid4().hex[:4]}")
        self.times: list[float] = []
        self.lat: list[float] = []
        subscribed = threading.Event()

        def on_message(cl, ud, m) -> None:  # noqa: ANN001
            now = time.time()
            i = m.payload.find(b'"ts":')
            while i >= 0:  # every event of the message (a packed one carries many)
                self.times.append(now)
                self.lat.append(now - float(m.payload[i + 5 : m.payload.find(b",", i)]))
                i = m.payload.find(b'"ts":', i + 5)

        self.c.on_message = on_message
        self.c.on_subscribe = lambda *a: subscribed.set()
        self.c.connect(host, port, 30)
        self.c.subscribe("passlane/v1/+/+/events", 1)
        self.c.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("counter did not subscribe")

    def wait_count(self, n: int, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while len(self.times) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker delivered {len(self.times)} of {n}")
            time.sleep(0.01)
        return self.times[n - 1]

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


# ---------------------------------------------------------------- bridge workers (subprocesses)


class Workers:
    def __init__(
        self, db: str, host: str, port: int, pki_root: str, n: int, work: Path, config: Path | None = None
    ) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        for i in range(n):
            log = work / f"worker-{prefix}-{i}.log"
            self.logs.append(log)
            with open(log, "wb") as fh:
                self.procs.append(
                    subprocess.Popen(
                        [
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
                            str(i),
                            "--client-id-prefix",
                            prefix,
                            "--mqtt-host",
                            host,
                            "--mqtt-port",
                            str(port),
                            "--site-dir",
                            pki_root,
                            *(["--config", str(config)] if config is not None else []),
                        ],
                        cwd=ROOT,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 30
        while not all("subscribed" in log.read_text(errors="replace") for log in self.logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()  # none may outlive a failed start (one once kept reconnecting for minutes)
                raise RuntimeError(
                    "bridge worker did not start: "
                    + " | ".join(log.read_text(errors="replace")[-500:] for log in self.logs)
                )
            time.sleep(0.05)

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far by the worker processes."""
        import psutil

        total = 0.0
        for p in self.procs:
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
        return total

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ---------------------------------------------------------------- one ingest configuration


def _pct(values: list[float], p: int) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-len(s) * p // 100) - 1))]


def _latencies(
    acks: dict[str, list[tuple[int, float]]], pub_ts: dict[str, dict[int, float]], first: int, last: int
) -> list[float]:
    """Per event: the first watermark at or above its seq, minus its publish time."""
    out: list[float] = []
    for u, seqs in pub_ts.items():
        marks = sorted(acks.get(u, []), key=lambda a: a[1])
        best: list[tuple[int, float]] = []  # running max of the watermark over time
        hi = 0
        for s, t in marks:
            if s > hi:
                hi = s
                best.append((s, t))
        j = 0
        for seq in range(first, last + 1):
            while j < len(best) and best[j][0] < seq:
                j += 1
            if j < len(best) and seq in seqs:
                out.append(best[j][1] - seqs[seq])
    return out


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def run_ingest(
    name: str,
    db: str | None,
    n_workers: int,
    pki: Any,
    work: Path,
    k: int,
    n_sat: int,
    paced_s: float,
    packed: bool = False,
) -> dict[str, Any]:
    broker = _Broker.make(pki, work / f"broker-{uuid.uuid4().hex[:6]}")
    broker.start()
    units = _lane_units(k)
    ctx = mp.get_context("spawn")
    cmd_q, out_q = ctx.Queue(), ctx.Queue()
    workers: Workers | None = None
    counter: Counter | None = None
    lanes = None

    def get() -> Any:
        msg = out_q.get(timeout=400)
        if msg[0] == "error":
            raise RuntimeError(f"{name}: lanes failed: {msg[1]}")
        return msg

    try:
        if db is None:
            counter = Counter(str(pki.root), broker.host, broker.port)
        else:
            workers = Workers(db, broker.host, broker.port, str(pki.root), n_workers, work)
        lanes = ctx.Process(
            target=_lanes_proc,
            args=(str(pki.root), broker.host, broker.port, units, n_sat, paced_s, db is not None, cmd_q, out_q, packed),
        )
        cpu0 = workers.cpu_s() if workers else _own_cpu_s()
        lanes.start()
        get()  # sat_published
        total_sat = n_sat * k
        cpu_per_event = None
        if counter is not None:
            cmd_q.put(("done", counter.wait_count(total_sat)))
            # the bare subscriber's paho thread runs in this process, which otherwise only waits
            cpu_per_event = (_own_cpu_s() - cpu0) / total_sat
        offsets = []
        seen = total_sat
        for _frac in () if packed else PACED_FRACTIONS:
            _, n_paced, _ = get()
            if workers and cpu0 is not None and cpu_per_event is None:
                cpu_per_event = (workers.cpu_s() - cpu0) / total_sat
            offsets.append((seen, n_paced * k))
            seen += n_paced * k
            if counter is not None:
                cmd_q.put(("done", counter.wait_count(seen)))
        _, report = get()
        if workers and cpu0 is not None and cpu_per_event is None:  # (packed: no paced phase came after)
            cpu_per_event = (workers.cpu_s() - cpu0) / total_sat
        lanes.join(30)
        if counter is not None:
            report["sat_lat"] = counter.lat[:total_sat]
            for p, (start, n) in zip(report["paced"], offsets):
                p["lat"] = counter.lat[start : start + n]
            report["stored"] = len(counter.times)
        else:
            from cloud_bridge.store import open_store

            assert db is not None  # no counter: the workers stored into db
            store = open_store(db)
            counts = store.counts()
            store.close()
            report["stored"] = counts["events_stored"]
            report["duplicates"] = counts["duplicates_seen"]
        report["expected"] = seen
        report["cpu_per_event"] = cpu_per_event
        report["name"] = name
        report["workers"] = n_workers
        return report
    finally:
        if lanes is not None and lanes.is_alive():
            lanes.terminate()
        if workers:
            workers.stop()
        if counter:
            counter.stop()
        broker.stop()


# ---------------------------------------------------------------- look-ups and plate reservations


def run_lookups(pki: Any, work: Path, k: int, per_lane: int) -> list[dict[str, Any]]:
    """K lanes each send `per_lane` requests of every kind, one at a time, all lanes at once."""
    import paho.mqtt.client as mqtt  # noqa: F401
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from cloud_bridge.reference import generate, load_into
    from cloud_bridge.store import open_store
    from edge.contract import EventEnvelope, Leaf, Request, Response, topic

    db = str(work / "lookups.sqlite3")
    store = open_store(db)
    store.migrate()
    data, _ = generate(max(200, k * per_lane), seed=11)
    load_into(store, data)
    store.close()
    broker = _Broker.make(pki, work / f"broker-{uuid.uuid4().hex[:6]}")
    broker.start()
    # A lane asks at most 5 requests/s and holds at most 8 reservations (cloud_bridge.config.LimitsConfig);
    # this run asks as fast as answers come, so those per-unit limits are lifted here and only here.
    config = work / "lookups-bridge.toml"
    config.write_text(
        f"[limits]\nrequests_per_s = 100000\nrequests_burst = 100000\nreservations_per_unit = {per_lane + 1}\n",
        encoding="utf-8",
    )
    workers = Workers(db, broker.host, broker.port, str(pki.root), 1, work, config=config)
    results: dict[str, list[float]] = {"partner.lookup": [], "plate.options": [], "plate.reserve": []}
    errors: dict[str, int] = dict.fromkeys(results, 0)
    error_codes: dict[str, int] = {}
    lock = threading.Lock()
    try:

        def lane(i: int, u: str) -> None:
            c = _client(str(pki.root), u, f"{u}-lk-{uuid.uuid4().hex[:4]}")
            got: dict[bytes, tuple[float, Response]] = {}
            cv = threading.Condition()
            sub = threading.Event()

            acked = [0]

            def on_message(cl, ud, m) -> None:  # noqa: ANN001
                with cv:
                    if m.topic.endswith("/" + Leaf.ACK.value):
                        acked[0] = max(acked[0], json.loads(m.payload)["acked_seq"])
                    else:
                        got[bytes(m.properties.CorrelationData)] = (time.perf_counter(), Response.from_bytes(m.payload))
                    cv.notify_all()

            c.on_message = on_message
            c.on_subscribe = lambda *a: sub.set()
            c.connect(broker.host, broker.port, 30)
            c.loop_start()
            c.subscribe(topic(SITE, u, Leaf.RESP), 1)
            c.subscribe(topic(SITE, u, Leaf.ACK), 1)
            sub.wait(10)
            # A request is about one open case of the asking lane: open them first, as a lane does.
            for j in range(per_lane):
                c.publish(
                    topic(SITE, u, Leaf.EVENTS),
                    EventEnvelope(
                        unit=u, seq=j + 1, ts=time.time(), kind="case.opened", case_id=f"{u}-261206-{j:06x}", data={}
                    ).to_bytes(),
                    qos=1,
                )
            with cv:
                cv.wait_for(lambda: acked[0] >= per_lane, 30)
            n = 0
            for j in range(per_lane):
                v = data.vehicles[(i * per_lane + j) % len(data.vehicles)]
                case_id = f"{u}-261206-{j:06x}"
                options: list[str] = []
                for kind, body in (
                    ("partner.lookup", {"case_id": case_id, "id_number": v.owner_id_number}),
                    ("plate.options", {"case_id": case_id, "authority": "苏A", "plate_kind": "ordinary", "count": 50}),
                    ("plate.reserve", None),
                ):
                    if body is None:
                        body = {
                            "case_id": case_id,
                            "authority": "苏A",
                            "plate_kind": "ordinary",
                            "number": options[0] if options else "苏A00000",
                        }
                    n += 1
                    corr = f"{u}-{n}".encode()
                    props = Properties(PacketTypes.PUBLISH)
                    props.ResponseTopic = topic(SITE, u, Leaf.RESP)
                    props.CorrelationData = corr
                    t0 = time.perf_counter()
                    c.publish(
                        topic(SITE, u, Leaf.REQ),
                        Request(unit=u, kind=kind, body=body, ts=time.time()).to_bytes(),
                        qos=1,
                        properties=props,
                    )
                    with cv:
                        cv.wait_for(functools.partial(got.__contains__, corr), 10)
                    if corr not in got:
                        with lock:
                            errors[kind] += 1
                        continue
                    t1, resp = got.pop(corr)
                    with lock:
                        results[kind].append(t1 - t0)
                        if not resp.ok:
                            errors[kind] += 1
                            error_codes[f"{kind}: {resp.error}"] = error_codes.get(f"{kind}: {resp.error}", 0) + 1
                    if kind == "plate.options" and resp.ok:
                        options = resp.body["numbers"]
            c.disconnect()
            c.loop_stop()

        threads = [threading.Thread(target=lane, args=(i, u)) for i, u in enumerate(_lane_units(k))]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        elapsed = time.perf_counter() - t0
    finally:
        workers.stop()
        broker.stop()
    return [
        {
            "kind": kind,
            "n": len(v),
            "errors": errors[kind],
            "p50": _pct(v, 50),
            "p99": _pct(v, 99),
            "max": max(v) if v else None,
            "rate": len(v) / elapsed,
            "error_codes": {code: n for code, n in error_codes.items() if code.startswith(kind + ":")},
        }
        for kind, v in results.items()
    ]


# ---------------------------------------------------------------- the ingest core alone


def run_core(work: Path, k: int, n_events: int, batch: int = 200) -> float:
    """CPU seconds per event of the bridge's own ingest code, in this process without MQTT: the same events
    classified, kept, folded and judged in batches like a worker's (what the worker adds above paho's cost)."""
    from cloud_bridge.ingest import classify
    from cloud_bridge.ingest_service import IngestService
    from cloud_bridge.rules import RiskRulesConfig
    from cloud_bridge.store import open_store
    from edge.contract import Leaf, topic

    store = open_store(str(work / "core.sqlite3"))
    store.migrate()
    service = IngestService(store, RiskRulesConfig())
    now = time.time()
    msgs = [
        (topic(SITE, u, Leaf.EVENTS), _event_bytes(u, seq, now))
        for seq in range(1, n_events // k + 1)
        for u in _lane_units(k)
    ]
    warm = min(len(msgs) // 5, 2000)

    def run(part: list[tuple[str, bytes]]) -> None:
        for i in range(0, len(part), batch):
            service.ingest([classify(t, p, time.time()) for t, p in part[i : i + batch]])

    run(msgs[:warm])
    c0 = time.process_time()
    run(msgs[warm:])
    per_event = (time.process_time() - c0) / max(1, len(msgs) - warm)
    store.close()
    return per_event


# ---------------------------------------------------------------- main


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1000:.1f}"


def main(ns: argparse.Namespace) -> int:
    from edge.pki import SitePki
    from site_sim import pgcluster

    k = ns.lanes
    seconds = 2.0 if ns.quick else ns.seconds
    n_sat = (600 if ns.quick else int(5000 * seconds)) // k
    paced_s = 1.5 if ns.quick else max(3.0, seconds / 2)
    t_start = time.time()
    work = Path(tempfile.mkdtemp(prefix="passlane-bench-"))
    pki = SitePki(work / "pki")
    pki.init(SITE, {"bridge": "bridge", **dict.fromkeys(_lane_units(k), "lane")})
    print(
        f"passlane bench bridge: K={k} lanes, {n_sat} events per lane flat out, then {paced_s:.0f}s each at 25% and 50% of that rate; "
        f"11-event case flows, QoS 1 over TLS, {os.cpu_count()} CPUs",
        flush=True,
    )
    rows = []
    pg = None
    try:
        only = set((getattr(ns, "only_parts", None) or "broker,sqlite,packed,sqlite2,pg1,pg2,lookups").split(","))
        rows.append(run_ingest("broker only (bare subscriber)", None, 0, pki, work, k, n_sat, paced_s))
        print(f"  broker only: {rows[-1]['rate']:.0f} ev/s", flush=True)
        if "sqlite" in only:
            rows.append(run_ingest("SQLite", str(work / "ingest.sqlite3"), 1, pki, work, k, n_sat, paced_s))
            print(f"  SQLite x1: {rows[-1]['rate']:.0f} ev/s", flush=True)
        if "packed" in only:  # the same flat-out load as lanes' outboxes send a backlog: packed messages
            rows.append(run_ingest(PACKED_PEER, None, 0, pki, work, k, n_sat, paced_s, packed=True))
            print(f"  broker only, packed: {rows[-1]['rate']:.0f} ev/s", flush=True)
            rows.append(
                run_ingest(PACKED, str(work / "ingest-packed.sqlite3"), 1, pki, work, k, n_sat, paced_s, packed=True)
            )
            print(f"  SQLite x1, packed: {rows[-1]['rate']:.0f} ev/s", flush=True)
        if "sqlite2" in only:
            rows.append(run_ingest("SQLite", str(work / "ingest2.sqlite3"), 2, pki, work, k, n_sat, paced_s))
            print(f"  SQLite x2: {rows[-1]['rate']:.0f} ev/s", flush=True)
        if pgcluster.available() and ({"pg1", "pg2"} & only):
            pg = pgcluster.PgCluster(fsync=True).start()
            for n in (1, 2):
                if f"pg{n}" in only:
                    rows.append(
                        run_ingest("PostgreSQL", pg.create_database(f"bench{n}"), n, pki, work, k, n_sat, paced_s)
                    )
                    print(f"  PostgreSQL x{n}: {rows[-1]['rate']:.0f} ev/s", flush=True)
        elif not pgcluster.available():
            print(f"  PostgreSQL skipped: server binaries not found in {pgcluster.PG_BIN}")
        lookups = run_lookups(pki, work, k, 10 if ns.quick else 40) if "lookups" in only else []
        core = run_core(work, k, 4000 if ns.quick else 40000)
    finally:
        if pg is not None:
            pg.stop()
    limit = rows[0]["rate"]
    print()
    print(f"Ingest, K={k} simulated lanes (events/s: flat out, first publish -> last event acknowledged as committed)")
    cols = "".join(
        f" {'p50@' + str(int(f * 100)) + '%':>9} {'p99@' + str(int(f * 100)) + '%':>9}" for f in PACED_FRACTIONS
    )
    head = f"{'configuration':<30} {'workers':>7} {'events/s':>9} {'of broker':>9} {'CPU us/ev':>9} {'stored':>13} {'dupes':>5}{cols}"
    print(head)
    print("-" * len(head))
    packed_limit = next((r["rate"] for r in rows if r["name"] == PACKED_PEER), None)
    for r in rows:
        peer = packed_limit if r["name"] in (PACKED, PACKED_PEER) else limit  # each against the same messages
        ratio = r["rate"] / peer if peer else 0
        lat = "".join(f" {_ms(_pct(p['lat'], 50)):>9} {_ms(_pct(p['lat'], 99)):>9}" for p in r["paced"]) or "".join(
            f" {'-':>9} {'-':>9}" for _ in PACED_FRACTIONS
        )
        cpu = "-" if r.get("cpu_per_event") is None else f"{r['cpu_per_event'] * 1e6:.0f}"
        print(
            f"{r['name']:<30} {r['workers'] or '-':>7} {r['rate']:>9.0f} {ratio:>8.0%} {cpu:>9} {str(r['stored']) + '/' + str(r['expected']):>13} "
            f"{r.get('duplicates', '-'):>5}{lat}"
        )
    print(
        "(CPU us/ev: user+system CPU of the bridge worker processes (for the broker-only row: of the bare subscriber) per event in the flat-out phase; 1e6 / it estimates what one "
        "otherwise idle core would sustain; latency columns: milliseconds, lane publish -> committed, at 25% and 50% of that configuration's flat-out rate; "
        "achieved paced rates: "
        + "; ".join(
            f"{r['name'].split(' ')[0]}x{r['workers'] or 0}: " + "/".join(f"{p['achieved']:.0f}" for p in r["paced"])
            for r in rows
            if r["paced"]
        )
        + " ev/s; packed rows: flat out only)"
    )
    print()
    print(
        f"Look-ups over MQTT v5 request/response, K={k} lanes at once, one request at a time per lane, each about "
        "a case the lane opened (SQLite, 1 worker; the per-unit request rate and reservation limits lifted)"
    )
    head = f"{'request':<16} {'n':>6} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    print(head)
    print("-" * len(head))
    for r in lookups:
        print(
            f"{r['kind']:<16} {r['n']:>6} {r['errors']:>6} {r['rate']:>7.0f} {_ms(r['p50']):>7} {_ms(r['p99']):>7} {_ms(r['max']):>7}"
        )
    codes = {code: n for r in lookups for code, n in r.get("error_codes", {}).items()}
    if codes:
        print("(errors: " + "; ".join(f"{code} x{n}" for code, n in sorted(codes.items())) + ")")
    print()
    sqlite_row = next((r for r in rows if r["name"] == "SQLite" and r["workers"] == 1), None)
    if sqlite_row:
        ok_rate = sqlite_row["rate"] >= 5000
        ok_ratio = limit and sqlite_row["rate"] * 3 >= limit
        p99 = max((_pct(p["lat"], 99) or 0.0) for p in sqlite_row["paced"])
        print(
            f"targets (SQLite): >= 5000 ev/s: {'met' if ok_rate else 'NOT met'} ({sqlite_row['rate']:.0f}); within 3x of broker-only: "
            f"{'met' if ok_ratio else 'NOT met'} ({limit / max(sqlite_row['rate'], 1):.1f}x); p99 <= 100 ms below saturation (worst of 25%/50%): "
            f"{'met' if p99 is not None and p99 <= 0.1 else 'NOT met'} ({_ms(p99)} ms)"
        )
    print(
        f"ingest core alone (classify, keep, fold, rules; SQLite, batches of 200, no MQTT): {core * 1e6:.0f} us CPU/event"
    )
    if sqlite_row and sqlite_row.get("cpu_per_event") and rows[0].get("cpu_per_event"):
        worker, bare = sqlite_row["cpu_per_event"], rows[0]["cpu_per_event"]
        print(
            f"target (issue #23): <= 50 us worker CPU per event: {'met' if worker <= 50e-6 else 'NOT met'} ({worker * 1e6:.0f} us; "
            f"{worker / bare:.1f}x the bare subscriber's {bare * 1e6:.0f} us, of which our ingest code {core * 1e6:.0f} us)"
        )
    packed_row = next((r for r in rows if r["name"] == PACKED), None)
    packed_peer = next((r for r in rows if r["name"] == PACKED_PEER), None)
    if packed_row and packed_row.get("cpu_per_event") and packed_peer and packed_peer.get("cpu_per_event"):
        worker, bare = packed_row["cpu_per_event"], packed_peer["cpu_per_event"]
        print(
            f"target (issue #23), events packed as a lane's outbox sends a backlog: <= 50 us worker CPU per event: "
            f"{'met' if worker <= 50e-6 else 'NOT met'} ({worker * 1e6:.0f} us; {worker / bare:.1f}x the bare "
            f"subscriber's {bare * 1e6:.0f} us on the same messages)"
        )
    lost = [r["name"] for r in rows[1:] if r["stored"] != r["expected"]]
    print(f"every event stored exactly once: {'yes' if not lost else 'NO: ' + ', '.join(lost)}")
    print(f"bench time {time.time() - t_start:.0f}s")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0
