"""The ops dashboard in headless Chromium: sign-in, live lanes, charts that render, case search with timeline and VIN image."""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
import socket
import threading
import time
from pathlib import Path

import pytest
from bridge_helpers import make_settings, wait_for

from cloud_bridge.app import create_app
from cloud_bridge.auth import hash_password
from cloud_bridge.ingest import classify
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import Store, open_store
from edge.contract import BoardHealth, EventEnvelope, Leaf, Telemetry, UnitState, UnitStatus, topic

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
VIN = "LSVAU218XN2183294"
FLOW = [
    "case.opened",
    "case.partner_records",
    "case.admitted",
    "case.vin_read",
    "case.vin_confirmed",
    "case.inspected",
    "case.plate_reserved",
    "case.paid",
    "case.plates_issued",
    "case.plates_fitted",
    "case.closed",
]


def _png_b64() -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (240, 60), "white")
    ImageDraw.Draw(img).text((10, 20), VIN, fill="black")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _seed(store: Store) -> None:
    rng = random.Random(1)
    now = time.time()
    items = []
    seqs = {"lane-01": 0, "lane-02": 0}
    # The dashboard counts cases closed since local midnight: all 40 close today, before
    # now, whatever the time of day the test runs (it used to fail between 00:00 and 03:00).
    midnight = (
        dt.datetime.fromtimestamp(now).astimezone().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    )
    first_close, last_close = max(now - 3 * 3600, midnight + 1), now - 60
    for i in range(40):
        unit = "lane-01" if i % 2 else "lane-02"
        minutes = rng.choice([12, 15, 18, 20, 22, 25, 27, 29, 33, 41])
        start = first_close + (last_close - first_close) * i / 39 - minutes * 60
        for k, kind in enumerate(FLOW):
            seqs[unit] += 1
            ts = start + minutes * 60 * k / (len(FLOW) - 1)
            data: dict = {}
            if kind == "case.vin_confirmed":
                data = {"vin": VIN if i == 0 else f"LFV{i:014d}"[:17], "image": _png_b64() if i == 0 else None}
            if kind in ("case.plate_reserved", "case.plates_issued"):
                data = {"number": f"苏A{10000 + i}"}
            if kind == "case.opened":
                data = {"owner_name": "张伟" if i == 0 else f"车主{i}"}
            ev = EventEnvelope(
                unit=unit, seq=seqs[unit], ts=ts, kind=kind, case_id=f"{unit}-261206-{i:06x}", actor="insp-1", data=data
            )
            items.append(classify(topic("site-1", unit, Leaf.EVENTS), ev.to_bytes(), ts))
    # one case still running on lane-01
    seqs["lane-01"] += 1
    items.append(
        classify(
            topic("site-1", "lane-01", Leaf.EVENTS),
            EventEnvelope(
                unit="lane-01", seq=seqs["lane-01"], ts=now - 300, kind="case.opened", case_id="lane-01-261206-00c0de"
            ).to_bytes(),
            now,
        )
    )
    for unit in ("lane-01", "lane-02"):
        items.append(
            classify(
                topic("site-1", unit, Leaf.STATUS),
                UnitStatus(unit=unit, state=UnitState.ONLINE, ts=now).to_bytes(),
                now,
            )
        )
        items.append(
            classify(
                topic("site-1", unit, Leaf.TELEMETRY),
                Telemetry(
                    unit=unit,
                    ts=now,
                    load_1m=0.3,
                    mem_used_pct=20,
                    disk_used_pct=30,
                    outbox_depth=2,
                    stage="inspection",
                    boards=[
                        BoardHealth(name="entry-io", online=True),
                        BoardHealth(name="exit-io", online=unit == "lane-01"),
                    ],
                ).to_bytes(),
                now,
            )
        )
    IngestService(store, RiskRulesConfig()).ingest(items, now)


@pytest.fixture
def server(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    import uvicorn

    db = tmp_path / "b.sqlite3"
    store = open_store(str(db))
    store.migrate()
    store.accounts.add_user("ada", "ops-admin", hash_password(PASSWORD))
    _seed(store)
    from cloud_bridge.rules import AlertSignal, Rule, Severity

    store.alerts.raise_all(
        [
            AlertSignal(
                Rule.DEVICE_OFFLINE,
                "device_offline:lane-02:exit-io",
                Severity.HIGH,
                "Board offline",
                "lane-02: board exit-io offline",
                "site-1",
                "lane-02",
            )
        ]
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(make_settings(str(db)), store=store)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    wait_for(lambda: srv.started, 30, "uvicorn started")
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    t.join(10)
    store.close()


def test_dashboard_signs_in_shows_lanes_renders_charts_and_finds_a_case(server, tmp_path: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    url, store = server
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        external: list[str] = []
        page.on(
            "request", lambda r: None if r.url.startswith(url) or r.url.startswith("data:") else external.append(r.url)
        )
        page.goto(url + "/")
        assert page.url.endswith("/login")
        assert "登录" in page.content()  # zh-CN by default
        page.fill("input[name=name]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("#sign-in")
        page.wait_for_selector("#lanes tbody tr[data-unit=lane-01]")
        rows = page.locator("#lanes tbody tr")
        assert rows.count() == 2
        assert "在线" in page.inner_text("#lanes")
        assert page.inner_text("#fig-registered") == "40"
        assert page.locator("#lanes .badge.down").count() == 1  # lane-02's exit board is offline
        # the histogram renders: many coloured pixels, including the red 30-minute line
        shot = tmp_path / "histogram.png"
        page.locator("#histogram").screenshot(path=str(shot))
        img = Image.open(shot).convert("RGB")
        colours = img.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 20, "histogram looks blank"
        blue = sum(n for n, (r, g, b) in colours if b > 150 and r < 100)
        red = sum(n for n, (r, g, b) in colours if r > 180 and g < 80 and b < 80)
        assert blue > 200 and red > 50, (blue, red)
        stages = tmp_path / "stages.png"
        page.locator("#stages").screenshot(path=str(stages))
        green = sum(n for n, (r, g, b) in Image.open(stages).convert("RGB").getcolors(1 << 20) if g > 130 and r < 90)
        assert green > 200
        assert "exit-io" in page.inner_text("#alerts tbody")  # the open alert shows on the dashboard
        # in Chinese: the running case's stage and the alert's rule by their catalogue names, no raw event name
        assert "业务受理" in page.inner_text("#lanes") and "case." not in page.inner_text("#lanes")
        assert "设备离线" in page.inner_text("#alerts tbody") and "device_offline" not in page.inner_text(
            "#alerts tbody"
        )
        # case search by VIN: the full timeline and the VIN photo
        page.click("a[href='/cases']")
        page.fill("#case-q", VIN)
        page.click("#case-search")
        page.click("#case-results a")
        page.wait_for_selector("#timeline")
        assert page.locator("#timeline tbody tr").count() == len(FLOW)
        assert page.inner_text("#case-vin") == VIN
        assert page.locator("#vin-image").evaluate("img => img.naturalWidth") == 240
        # search by owner and by plate
        page.goto(url + "/cases?q=张伟")
        assert page.locator("#case-results tbody tr").count() == 1
        page.goto(url + "/cases?q=苏A10000")
        assert page.locator("#case-results tbody tr").count() == 1
        # acknowledged and resolved by name on the alerts page (CSRF-protected forms)
        page.goto(url + "/alerts")
        page.click("tr[data-alert] button.ack")
        page.wait_for_selector("tr[data-alert]:has-text('已确认 · ada')")
        page.click("tr[data-alert] button.resolve")
        page.wait_for_selector("tr[data-alert]:has-text('已处置')")
        assert store.alerts.recent("resolved")[0]["resolved_by"] == "ada"
        # English, the alerts page and the audit log with its chain check
        page.goto(url + "/?lang=en")
        page.wait_for_selector("#lanes tbody tr")
        assert "Registered" in page.content() and "online" in page.inner_text("#lanes")
        page.goto(url + "/audit")
        assert "Hash chain intact" in page.inner_text("#chain-state")
        log = page.inner_text("#audit-log")
        assert "signed in" in log and "alert acknowledged" in log and "alert resolved" in log
        browser.close()
    assert external == [], f"the dashboard fetched from outside: {external}"
