"""A whole site (one lane, all real processes) fuzzed from outside for a bounded time, then run as usual.

While the fuzzing lasts: junk MQTT on the lane's own unit->bridge leaves, published with the lane's broker
account from a second client (status, telemetry, req and cmd/result: anything; events: only messages the bridge
must refuse, since a valid forged event would legitimately become a recorded conflict), and junk HTTP at the
lane's tablet and at the bridge's dashboard. Then vehicles, and the end-to-end check: the bridge's record of the
lane equals the lane's journal event for event (every refused message that named a seq the lane had not used yet
was replaced by the lane's own event), no process died, the lane never lost its broker session, and no HTTP
answer was a 5xx.

What the junk may not do, because it would be a legitimate act of whoever holds the account: a valid event
(a conflict), valid plate reservations or payments in the lane's name (they hold numbers and quotas its real
cases then lack), well-formed sign-ins (five wrong PINs lock the inspectors' address out of the tablet) and
state changes through a signed-in session. A refused event naming a seq takes that seq's place, so the junk
names only seqs the vehicles will reach (at most 20 past the lane's last) or far beyond its watermark (where it
takes no place).
"""

from __future__ import annotations

import json
import random
import sqlite3
import ssl
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import fuzz_helpers
import httpx
import paho.mqtt.client as mqtt
import pytest
from fuzz_helpers import NASTY_TEXT, api_operations, bytes_around, corpus, count, is_long, json_values, quoted
from fuzz_payloads import hostile, valid_bytes
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from site_helpers import audit_verify, bridge_events, comparable, lane_journal_events, run_vehicles

from cloud_bridge.ingest import classify, refused_seq
from edge.contract import MAX_SEQ_AHEAD, Leaf, RequestKind, decode, topic
from site_sim.run import RunOptions
from site_sim.site import INSPECTOR_PIN, OPS_USER, SITE_ID, Site, passlane

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.fuzz]

UNIT = "lane-01"
FUZZ_S = 150.0 if is_long() else 5.0
VEHICLES = 4 if is_long() else 1
CORPUS = 600 if is_long() else 120
AHEAD = 20  # a refused event may name a seq at most this far past the lane's last: the vehicles make far more events
HOLDS_RESOURCES = {RequestKind.PLATE_RESERVE, RequestKind.PAYMENT_START}


def _target(what: str) -> str:
    return f"tests/site/test_fuzz_site.py: {what}"


# ---------------------------------------------------------------- MQTT with the lane's own account
def _lane_last_seq(site: Site) -> int:
    parts = site.lane_parts[0]
    with sqlite3.connect(f"file:{parts.root / 'journal.sqlite3'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
    return int(row[0]) if row else 0


def _refusable(raw: bytes, last_seq: int) -> bool:
    """The bridge refuses it, and any seq it names is one the lane will use soon or one too far ahead to take a place."""
    item = classify(topic(SITE_ID, UNIT, Leaf.EVENTS), raw, time.time())
    if item.payload is not None:
        return False
    seq = refused_seq(item)
    return seq is None or seq <= last_seq + AHEAD or seq > last_seq + MAX_SEQ_AHEAD + AHEAD


def _valid_request_holding_resources(raw: bytes) -> bool:
    try:
        return decode(Leaf.REQ, raw).kind in HOLDS_RESOURCES  # type: ignore[attr-defined]
    except ValueError:
        return False


class MqttJunk:
    """Publishes junk on the lane's unit->bridge leaves with the lane's account, from its own client id."""

    def __init__(self, site: Site) -> None:
        leaves = (Leaf.STATUS, Leaf.TELEMETRY, Leaf.REQ, Leaf.CMD_RESULT)
        self.junk = [
            (leaf, raw)
            for leaf in leaves
            for raw in corpus(st.one_of(hostile(leaf, UNIT), valid_bytes(leaf, UNIT)), CORPUS)
            if not (leaf == Leaf.REQ and _valid_request_holding_resources(raw))
        ]
        self.events = corpus(hostile(Leaf.EVENTS, UNIT), CORPUS * 2)
        self.sent: Counter[str] = Counter()
        self.site = site
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{UNIT}-fuzz", protocol=mqtt.MQTTv5)
        self.client.tls_set_context(ssl.create_default_context(cafile=str(site.pki.ca_cert)))
        self.client.username_pw_set(UNIT, site.pki.password(UNIT))
        connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: connected.set()
        self.client.connect(site.broker.host, site.broker.port)
        self.client.loop_start()
        assert connected.wait(15), "the lane's account could not connect a second client"

    def publish(self, leaf: Leaf, raw: bytes) -> None:
        self.client.publish(topic(SITE_ID, UNIT, leaf), raw, qos=1).wait_for_publish(10)
        self.sent[leaf.value] += 1

    def refusals_that_name_the_next_seqs(self) -> None:
        """A few refused events certainly in the lane's way: wrong types, oversize, NUL, naming its next seqs."""
        last = _lane_last_seq(self.site)
        for k, body in enumerate([{"ts": "yesterday"}, {"data": {"x": "A" * 270_000}}, {"actor": "a\x00b"}], start=1):
            raw = json.dumps(
                {"v": 1, "unit": UNIT, "seq": last + k, "ts": 1.0, "kind": "device.fault", **body}
            ).encode()
            assert _refusable(raw, last)
            self.publish(Leaf.EVENTS, raw)

    def run(self, stop: threading.Event, rng: random.Random) -> None:
        last_valid_req = 0.0
        while not stop.is_set():
            if rng.random() < 0.4:
                raw = rng.choice(self.events)
                if _refusable(raw, _lane_last_seq(self.site)):
                    self.publish(Leaf.EVENTS, raw)
            else:
                leaf, raw = rng.choice(self.junk)
                if leaf == Leaf.REQ and not _is_junk_request(raw):  # a valid request spends the lane's request budget
                    if time.monotonic() - last_valid_req < 1.0:  # the lane's request budget refills faster than this
                        continue
                    last_valid_req = time.monotonic()
                self.publish(leaf, raw)
            stop.wait(0.01)  # pacing: about 100 messages a second at most

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _is_junk_request(raw: bytes) -> bool:
    try:
        decode(Leaf.REQ, raw)
    except ValueError:
        return True
    return False


# ---------------------------------------------------------------- HTTP at the tablet and the dashboard
class HttpJunk:
    """Requests to every operation of an app, with junk path values, queries and bodies; signed in only for what changes nothing."""

    def __init__(
        self,
        base_url: str,
        operations: list[tuple[str, str]],
        auth: dict[str, str],
        *,
        never_well_formed: set[str],
        skip: set[str],
    ) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=20)
        self.operations = [o for o in operations if o[1] not in skip] + [
            ("GET", "/x"),
            ("POST", "/api/x"),
            ("PUT", "/"),
            ("DELETE", "/"),
        ]
        self.auth = auth
        self.never_well_formed = never_well_formed
        self.texts = corpus(st.one_of(st.text(max_size=40), st.sampled_from(NASTY_TEXT), json_values.map(str)), CORPUS)
        self.bodies = corpus(bytes_around(json_values.map(fuzz_helpers.dumps)), CORPUS)
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []

    def one(self, rng: random.Random) -> None:
        method, template = rng.choice(self.operations)
        path = "".join(
            quoted(rng.choice(self.texts)) or "x" if part.startswith("{") else part for part in _split_path(template)
        )
        signed_in = rng.random() < 0.5
        body = rng.choice(self.bodies) if method in ("POST", "PUT", "DELETE") and rng.random() < 0.8 else b""
        if (signed_in and method != "GET") or template in self.never_well_formed:
            if method == "DELETE" and signed_in:
                return  # signing the session out changes the run's inspector
            body = b"\x00" + body  # never well-formed: refused before anything acts on it
        query = "&".join(
            f"{quoted(rng.choice(self.texts)[:20]) or 'q'}={quoted(rng.choice(self.texts))}"
            for _ in range(rng.randint(0, 3))
        )
        path += f"?{query}" if query else ""
        headers = {
            "content-type": rng.choice(
                ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
            )
        }
        if signed_in:
            headers |= self.auth
        try:
            r = self.http.request(method, path, content=body, headers=headers)
        except httpx.RemoteProtocolError:
            # the server closes a connection after answering without reading a body; a request sent on it before the
            # client saw the close is not answered: once more on a new connection
            try:
                r = self.http.request(method, path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                self.server_errors.append(f"{method} {path}: {exc!r}")
                return
        except httpx.HTTPError as exc:
            self.server_errors.append(f"{method} {path}: {exc!r}")
            return
        self.statuses[r.status_code] += 1
        if r.status_code >= 500:
            self.server_errors.append(f"{method} {path} -> {r.status_code}: {r.text[:200]}")

    def run(self, stop: threading.Event, rng: random.Random) -> None:
        while not stop.is_set():
            self.one(rng)

    def close(self) -> None:
        self.http.close()


def _split_path(template: str) -> list[str]:
    import re

    return re.split(r"(\{\w+\})", template)


def _ops_token(site: Site) -> str:
    argv = passlane(
        "bridge",
        "user",
        "token",
        OPS_USER,
        "--db",
        str(site.bridge_db),
        "--label",
        "fuzz",
        "--audit-key-file",
        str(site.audit_key_file),
    )
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]


@pytest.mark.timeout(1800)
def test_a_site_fuzzed_from_outside_keeps_running_and_the_bridge_still_matches_the_lane_event_for_event(
    tmp_path: Path,
) -> None:
    from cloud_bridge.app import ROUTERS as BRIDGE_ROUTERS
    from lane_controller.web import ROUTERS as TABLET_ROUTERS

    site = Site(tmp_path / "site", lanes=1, speed=600, reference_vehicles=40, seed=16)
    with site:
        parts = site.lane_parts[0]
        token = _ops_token(site)
        session = httpx.post(
            f"{parts.tablet_url}/api/session",
            json={"inspector_id": parts.inspector_id, "pin": INSPECTOR_PIN},
            timeout=20,
        )
        assert session.status_code == 200, session.text
        mqtt_junk = MqttJunk(site)
        tablet_junk = HttpJunk(
            parts.tablet_url,
            api_operations(r for router in TABLET_ROUTERS for r in router.routes),
            {"Authorization": f"Bearer {session.json()['token']}"},
            never_well_formed={"/api/session"},
            skip={"/api/stream"},
        )  # an endless event stream: one request would hold a lane task for its 15 s keepalive
        dashboard_junk = HttpJunk(
            site.dashboard_url,
            api_operations(r for module in BRIDGE_ROUTERS for r in module.router.routes),
            {"Authorization": f"Bearer {token}"},
            never_well_formed=set(),
            skip=set(),
        )
        for wrong in ("0000", "1111"):  # a few well-formed wrong PINs: journaled failures, still short of the lock
            assert (
                httpx.post(
                    f"{parts.tablet_url}/api/session",
                    json={"inspector_id": parts.inspector_id, "pin": wrong},
                    timeout=20,
                ).status_code
                == 401
            )
        mqtt_junk.refusals_that_name_the_next_seqs()

        stop = threading.Event()
        failures: list[str] = []

        def fuzz(f: Any, n: int) -> None:
            try:
                f.run(stop, random.Random(n))
            except Exception as exc:  # noqa: BLE001 - the fuzzer itself broke: the test says so
                failures.append(f"{type(f).__name__}: {exc!r}")
                stop.set()

        threads = [
            threading.Thread(target=fuzz, args=(f, n), daemon=True, name=f"fuzz-{n}")
            for n, f in enumerate((mqtt_junk, tablet_junk, dashboard_junk))
        ]
        for t in threads:
            t.start()
        stop.wait(FUZZ_S)  # the fuzzing lasts this long: a bounded run, not synchronisation
        stop.set()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), f"{t.name} did not stop"
        mqtt_junk.close()
        tablet_junk.close()
        dashboard_junk.close()
        assert failures == [], failures
        count(sum(mqtt_junk.sent.values()), _target("MQTT messages on the lane's leaves"))
        count(sum(tablet_junk.statuses.values()), _target("HTTP requests to the tablet"))
        count(sum(dashboard_junk.statuses.values()), _target("HTTP requests to the dashboard"))

        assert site.processes.dead() == [], [p.name for p in site.processes.dead()]
        assert tablet_junk.server_errors == [] and dashboard_junk.server_errors == [], "\n".join(
            e[:160] + " ... " + e[-140:] for e in tablet_junk.server_errors + dashboard_junk.server_errors
        )
        assert mqtt_junk.sent["events"] >= 3 and all(
            mqtt_junk.sent[leaf] for leaf in ("status", "telemetry", "req", "cmd/result")
        ), mqtt_junk.sent

        run, summary = run_vehicles(
            site, RunOptions(vehicles=VEHICLES, seed=16, fail_inspection_share=0.0, problem_record_share=0.0)
        )
        assert summary.vehicles == VEHICLES and summary.unfinished == 0, [
            o.reason for o in run.outcomes if o.outcome == "unfinished"
        ]
        assert summary.completed + summary.rejected == VEHICLES and summary.completed >= 1, (
            summary.reasons
        )  # the VIN reader may turn one away
        assert all(o.reason for o in run.outcomes if o.outcome == "rejected")
        assert (summary.lost, summary.duplicates) == (0, 0)

        lane = [comparable(e) for e in lane_journal_events(site, UNIT)]
        bridge = [comparable(e) for e in bridge_events(site, run.token, UNIT)]
        assert lane and bridge == lane, "the bridge's record of the lane differs from its journal"
        stats = httpx.get(
            f"{site.dashboard_url}/api/stats", headers={"Authorization": f"Bearer {token}"}, timeout=20
        ).json()
        assert stats["events_refused"] >= 3, f"the refusals in the lane's way took their seqs' places first: {stats}"
        assert site.processes.dead() == [], [p.name for p in site.processes.dead()]
        connects = site.broker.log_file.read_text(errors="replace").count(f" as {UNIT} (")
        assert connects == 1, f"the lane connected to the broker {connects} times"
        status, report = audit_verify(site)
        assert status == 0 and "every unit's chain verified" in report, report
