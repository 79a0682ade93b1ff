"""`passlane bench exam-site`: the exam console's live map, and the bridge beside the lanes with 20 cars streaming.

Everything is real and private to the run: a site PKI with car and lane accounts, the TLS Mosquitto, `passlane
bridge serve` (one ingest worker and the web process) and Debian Chromium signed in to the console.

1. **Position to map.** A car account publishes positions at 10 Hz as `passlane exam run` does (QoS 0 on its
   `position` leaf); the console marks the time each one moves the car's marker on the map (a MutationObserver
   on the marker). Peer, in the same run: a bare MQTT subscriber of the same positions (the broker's share).
   Both clocks are this machine's wall clock.
2. **The bridge with 20 cars at 10 Hz beside the lanes' load.** Lanes publish events at a fixed rate; the lanes'
   ingest latency (publish -> the first `ack` watermark covering the event: committed) and the bridge's CPU
   (every process of `passlane bridge serve`), first without cars, then with 20 cars streaming positions at
   10 Hz and the console open on the live map. The ratio is the cars' cost.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from edge.contract import Ack, Leaf, PositionReport, UnitState, UnitStatus, topic
from edge.pki import SitePki
from edge.stats import percentile
from site_sim.bench.bridge import _event_bytes
from site_sim.polling import wait_until
from site_sim.site import OPS_USER, SITE_ID, Site

CHROMIUM = "/usr/bin/chromium"
CARS, LANES, HZ = 20, 4, 10.0
LANE_RATE = 100.0  # events per second over all lanes: a busy site's lanes, well below the bridge's saturation
ORIGIN = (31.95, 118.80)  # near the example course's survey origin; the map draws e/n, lat/lon are only carried


def _client(pki: SitePki, host: str, port: int, user: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-bench-{time.monotonic_ns() % 10**8}")
    c.tls_set_context(ssl.create_default_context(cafile=str(pki.ca_cert)))
    c.username_pw_set(user, pki.password(user))
    c.connect(host, port, 30)
    c.loop_start()
    return c


def _position(unit: str, i: int, lane_offset: float = 0.0) -> PositionReport:
    """The i-th position of a car driving east along the course at 2 m/s (every position a different place)."""
    e, n = 5.0 + 0.2 * (i % 400), 2.0 + lane_offset
    return PositionReport(
        unit=unit,
        t=time.time(),
        lat=ORIGIN[0] + n / 111_000,
        lon=ORIGIN[1] + e / 94_000,
        e=e,
        n=n,
        heading_deg=90.0,
        speed_mps=2.0,
        quality="rtk_fixed",
    )


def _announce(c: mqtt.Client, unit: str) -> None:
    status = UnitStatus(unit=unit, state=UnitState.ONLINE, ts=time.time(), role="exam-vehicle")
    c.publish(topic(SITE_ID, unit, Leaf.STATUS), status.to_bytes(), qos=1, retain=True).wait_for_publish(10)


def _cars_proc(pki_root: str, host: str, port: int, units: list[str], seconds: float, out: Any) -> None:
    """20 cars at 10 Hz for `seconds` (its own process, so the cars' publishing costs the measuring process nothing)."""
    pki = SitePki(Path(pki_root))
    clients = [(u, _client(pki, host, port, u)) for u in units]
    for u, c in clients:
        _announce(c, u)
    out.put("announced")
    start, sent, i = time.monotonic(), 0, 0
    while time.monotonic() - start < seconds:
        for k, (u, c) in enumerate(clients):
            c.publish(topic(SITE_ID, u, Leaf.POSITION), _position(u, i, lane_offset=2.0 * k).to_bytes(), qos=0)
            sent += 1
        i += 1
        time.sleep(max(0.0, start + i / HZ - time.monotonic()))  # the cars' 10 Hz
    elapsed = time.monotonic() - start
    for _, c in clients:
        c.loop_stop()
        c.disconnect()
    out.put(sent / elapsed)


# ---------------------------------------------------------------- 1. position -> map

OBSERVER = """() => {
  window.__moves = [];
  const seen = new Set();
  const note = g => {
    if (!(g instanceof Element) || !g.matches("g.car[data-unit='car-01']")) return;
    const key = `${g.dataset.e},${g.dataset.n}`;
    if (!seen.has(key)) { seen.add(key); window.__moves.push([performance.timeOrigin + performance.now(), key]); }
  };
  new MutationObserver(ms => { for (const m of ms) { note(m.target); m.addedNodes.forEach(note); } })
    .observe(document.getElementById("course-map"), {attributes: true, childList: true, subtree: true});
}"""


def _sign_in(page: Any, url: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=name]", OPS_USER)
    page.fill("input[name=password]", password)
    page.click("#sign-in")
    page.wait_for_url(url + "/")
    page.goto(url + "/exam")
    page.wait_for_selector("body[data-ready='1']")


def map_latency(site: Site, page: Any, n: int) -> dict[str, Any]:
    """Publish `n` positions of car-01 at 10 Hz; when each reached a bare subscriber and the console's map."""
    car = _client(site.pki, site.broker.host, site.broker.port, "car-01")
    _announce(car, "car-01")
    page.reload()
    page.wait_for_selector("#cars tr[data-car='car-01']")
    page.evaluate(OBSERVER)
    peer_seen: dict[str, float] = {}
    peer = _client(site.pki, site.broker.host, site.broker.port, "bridge")

    def on_peer(cl: mqtt.Client, ud: Any, m: mqtt.MQTTMessage) -> None:
        d = json.loads(m.payload)
        peer_seen.setdefault(f"{d['e']:.2f},{d['n']:.2f}", time.time())

    subscribed = threading.Event()
    peer.on_message = on_peer
    peer.on_subscribe = lambda *a: subscribed.set()
    peer.subscribe(topic(SITE_ID, "car-01", Leaf.POSITION), 0)
    subscribed.wait(10)
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i in range(n):
        p = _position("car-01", i)
        sent[f"{p.e:.2f},{p.n:.2f}"] = time.time()
        car.publish(topic(SITE_ID, "car-01", Leaf.POSITION), p.to_bytes(), qos=0)
        time.sleep(max(0.0, start + (i + 1) / HZ - time.monotonic()))  # the car's 10 Hz
    try:  # until the last position is on the map (one the page replaced within a frame never shows on its own)
        page.wait_for_function("n => window.__moves.length >= n", arg=n, timeout=3000)
    except PlaywrightTimeout:
        pass
    moves = {key: t / 1000.0 for t, key in page.evaluate("() => window.__moves")}
    for c in (car, peer):
        c.loop_stop()
        c.disconnect()
    return {
        "sent": n,
        "map_ms": [(moves[k] - t) * 1000 for k, t in sent.items() if k in moves],
        "peer_ms": [(peer_seen[k] - t) * 1000 for k, t in sent.items() if k in peer_seen],
    }


# ---------------------------------------------------------------- 2. the bridge under lanes and cars


class LaneLoad:
    """`LANES` lane accounts publishing events at `LANE_RATE` in all, each noting when the bridge's watermark covered them."""

    def __init__(self, site: Site) -> None:
        self.units = [f"lane-{i:02d}" for i in range(1, LANES + 1)]
        self.clients = {u: _client(site.pki, site.broker.host, site.broker.port, u) for u in self.units}
        self.published: dict[str, dict[int, float]] = {u: {} for u in self.units}
        self.acked: dict[str, list[tuple[int, float]]] = {u: [] for u in self.units}
        self.next_seq = dict.fromkeys(self.units, 1)
        for u, c in self.clients.items():
            c.on_message = lambda cl, ud, m, u=u: self.acked[u].append(
                (Ack.model_validate_json(m.payload).acked_seq, time.time())
            )
            c.subscribe(topic(SITE_ID, u, Leaf.ACK), 1)

    def run(self, seconds: float) -> list[float]:
        """Publish for `seconds`; each event's ingest latency in ms (publish -> covered by a watermark)."""
        first = dict(self.next_seq)
        start, k = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            u = self.units[k % LANES]
            seq = self.next_seq[u]
            self.next_seq[u] += 1
            ts = time.time()
            self.published[u][seq] = ts
            self.clients[u].publish(topic(SITE_ID, u, Leaf.EVENTS), _event_bytes(u, seq, ts), qos=1)
            k += 1
            time.sleep(max(0.0, start + k / LANE_RATE - time.monotonic()))  # the lanes' pace
        last = {u: self.next_seq[u] - 1 for u in self.units}
        wait_until(
            lambda: all(self._covered(u, last[u]) is not None for u in self.units), 60, "the bridge's watermarks"
        )
        return [
            (self._covered(u, seq) or 0.0) * 1000 - t * 1000
            for u in self.units
            for seq, t in self.published[u].items()
            if seq >= first[u]
        ]

    def _covered(self, u: str, seq: int) -> float | None:
        return next((t for s, t in self.acked[u] if s >= seq), None)

    def close(self) -> None:
        for c in self.clients.values():
            c.loop_stop()
            c.disconnect()


def _bridge_cpu_s(site: Site) -> float:
    proc = psutil.Process(site.processes["bridge"].pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def bridge_load(site: Site, seconds: float) -> list[dict[str, Any]]:
    """The lanes alone, then the lanes with 20 cars streaming (the console is open on the map in both)."""
    lanes = LaneLoad(site)
    rows = []
    try:
        for cars in (0, CARS):
            proc, out = None, mp.get_context("spawn").Queue()
            if cars:
                units = [f"car-{i:02d}" for i in range(1, cars + 1)]
                args = (str(site.pki.root), site.broker.host, site.broker.port, units, seconds + 3, out)
                proc = mp.get_context("spawn").Process(target=_cars_proc, args=args)
                proc.start()
                if out.get(timeout=60) != "announced":  # the cars are connected before the measured window
                    raise RuntimeError("the cars did not connect")
            c0, w0 = _bridge_cpu_s(site), time.monotonic()
            lat = lanes.run(seconds)
            c1, w1 = _bridge_cpu_s(site), time.monotonic()
            positions = 0.0
            if proc is not None:
                positions = out.get(timeout=60)
                proc.join(30)
            rows.append({"cars": cars, "cpu_pct": 100 * (c1 - c0) / (w1 - w0), "lat_ms": lat, "positions": positions})
    finally:
        lanes.close()
    return rows


# ---------------------------------------------------------------- the table


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    return "p50 {:.1f} ms, p95 {:.1f} ms, p99 {:.1f} ms, n={}".format(
        *(percentile(values, q) or 0 for q in (50, 95, 99)), len(values)
    )


def print_tables(m: dict[str, Any], load: list[dict[str, Any]], seconds: float) -> None:
    print("exam console live map (a car's position at 10 Hz -> the console's map in Chromium)")
    p95 = percentile(m["map_ms"], 95) or 0.0
    peer95 = percentile(m["peer_ms"], 95) or 0.0
    print(f"  {'position -> map':32} {_ms(m['map_ms'])}   (the car sends at 10 Hz; the console must follow at >= 2 Hz)")
    print(f"  {'peer: position -> bare subscriber':32} {_ms(m['peer_ms'])}")
    print(
        f"  {'on the map / sent':32} {len(m['map_ms'])} / {m['sent']}   p95 ratio map/peer {p95 / max(peer95, 0.001):.1f}x"
    )
    print(
        f"\nthe bridge beside {LANES} lanes ({LANE_RATE:.0f} events/s in all, {seconds:.0f} s each, the console open)"
    )
    base = load[0]
    for row in load:
        label = f"with {row['cars']} cars at {HZ:.0f} Hz" if row["cars"] else "lanes only"
        extra = f", {row['positions']:.0f} positions/s" if row["cars"] else ""
        print(f"  {label:32} bridge CPU {row['cpu_pct']:5.1f} % of one core{extra}")
        print(f"  {'':32} ingest {_ms(row['lat_ms'])}")
    if len(load) == 2:
        cpu_ratio = load[1]["cpu_pct"] / max(base["cpu_pct"], 0.001)
        lat_ratio = (percentile(load[1]["lat_ms"], 95) or 0) / max(percentile(base["lat_ms"], 95) or 0, 0.001)
        print(f"  {'cars / lanes only':32} CPU {cpu_ratio:.2f}x, ingest p95 {lat_ratio:.2f}x")


def run(positions: int = 300, seconds: float = 20.0) -> int:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(f"exam-site bench: {CHROMIUM} is missing (apt-get install chromium)")
        return 1
    with tempfile.TemporaryDirectory(prefix="passlane-bench-exam-site-") as tmp:
        site = Site(Path(tmp), lanes=0, reference_vehicles=20)
        cars = {f"car-{i:02d}": "exam-vehicle" for i in range(1, CARS + 1)}
        site.pki.init(
            SITE_ID, {"bridge": "bridge", "ops": "ops"} | cars | {f"lane-{i:02d}": "lane" for i in range(1, LANES + 1)}
        )
        site.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                _sign_in(page, site.dashboard_url, site.ops_password_file.read_text().strip())
                m = map_latency(site, page, positions)
                load = bridge_load(site, seconds)
                browser.close()
        finally:
            site.stop()
    print_tables(m, load, seconds)
    return 0
