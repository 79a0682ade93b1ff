"""The ops case list and case page in headless Chromium: recent cases listed and filtered, the stage chart drawn
(bars laid end to end along the time axis), the VIN differences marked, personal data masked until the admin asks,
nothing overflowing at tablet width, nothing fetched from outside.

Set PASSLANE_CASE_SCREENSHOTS to a folder to keep the screenshots (docs/screenshots/bridge-case*.png)."""

from __future__ import annotations

import itertools
import os
import socket
import threading
from pathlib import Path

import pytest
from bridge_helpers import make_settings, wait_for
from test_case_pages import ID_NUMBER, SITE, seed_cases

from cloud_bridge.app import create_app
from cloud_bridge.auth import hash_password
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import open_store

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
SHOTS = os.environ.get("PASSLANE_CASE_SCREENSHOTS")
REGISTERED, REJECTED = "lane-01-261203-00a001", "lane-01-261205-00b001"
SIZES = ((1280, 800), (1024, 768))


@pytest.fixture
def server(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    import uvicorn

    db = tmp_path / "b.sqlite3"
    store = open_store(str(db))
    store.migrate()
    store.accounts.add_user("ada", "ops-admin", hash_password(PASSWORD))
    seed_cases(lambda items, now: IngestService(store, RiskRulesConfig()).ingest(items, now))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(make_settings(str(db)), store=store), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    wait_for(lambda: srv.started, 30, "uvicorn started")
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    t.join(10)
    store.close()


def _no_overflow(page) -> None:
    """Nothing wider than the window: the page does not scroll sideways (wide tables scroll in their own box)."""
    width = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert width <= 0, f"the page is {width}px wider than the window"


def _sign_in(page, url: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(url + "/")


def test_the_case_list_filters_and_the_case_page_draws_its_chart(server, tmp_path: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    url, store = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        external: list[str] = []
        page.on("request", lambda r: None if r.url.startswith((url, "data:")) else external.append(r.url))
        _sign_in(page, url)
        # the list: recent cases without a search, newest first; then only the rejected ones
        page.goto(url + "/cases?lang=zh-CN")
        rows = page.locator("#case-results tbody tr")
        assert rows.count() == len(SITE)
        assert rows.first.get_attribute("data-case") == "lane-02-261206-00e001"
        assert "暂停中" in page.inner_text("#case-results") and "退办" in page.inner_text("#case-results")
        page.select_option("#filter-outcome", "rejected")
        page.select_option("#filter-unit", "lane-01")
        page.click("#case-search")
        page.wait_for_url("**outcome=rejected**")
        assert [r.get_attribute("data-case") for r in rows.all()] == [REJECTED]
        # a case: one bar per stage, each starting where the one before ends
        page.goto(url + f"/cases/{REGISTERED}")
        bars = page.locator("#stage-chart rect.bar")
        assert bars.count() == 10
        boxes = [bars.nth(i).bounding_box() for i in range(bars.count())]
        assert all(b is not None and b["width"] > 2 for b in boxes)
        for a, b in itertools.pairwise(boxes):
            assert a is not None and b is not None
            assert abs(a["x"] + a["width"] - b["x"]) < 1.5 and b["y"] > a["y"]
        shot = tmp_path / "chart.png"
        page.locator("#stage-chart").screenshot(path=str(shot))
        colours = Image.open(shot).convert("RGB").getcolors(1 << 20) or []
        blue = sum(n for n, (r, g, b) in colours if b > 150 and r < 60 and 90 < g < 130)
        red = sum(n for n, (r, g, b) in colours if r > 180 and g < 80 and b < 80)
        assert blue > 1500 and red > 20, (blue, red)  # the bars, and the 30-minute line
        assert "{" not in page.inner_text("#timeline")  # event data as fields, not JSON
        # personal data: masked, then shown on the admin's explicit request, which is audited
        assert page.inner_text("#case-id-number") == "3201**********0386"
        page.fill("#unmask-reason", "owner's complaint")
        page.click("#show-personal")
        page.wait_for_selector("#unmasked-note")
        assert page.inner_text("#case-id-number") == ID_NUMBER
        assert [e["actor"] for e in store.audit.entries() if e["action"] == "case.personal_data_view"] == ["ada"]
        # the rejected case: the read and the certificate's VIN with the two differing characters marked
        page.goto(url + f"/cases/{REJECTED}")
        assert page.locator("#vin-grid td.differs").count() == 4
        assert page.locator("#vin-photo-missing").count() == 1
        for lang in ("zh-CN", "en"):  # a browser in each language (its date fields follow the browser's locale)
            in_lang = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", f"--lang={lang}"],
                env={**os.environ, "LANGUAGE": lang.replace("-", "_"), "LANG": lang.replace("-", "_") + ".UTF-8"},
            )
            page = in_lang.new_page(locale=lang)
            page.on("request", lambda r: None if r.url.startswith((url, "data:")) else external.append(r.url))
            _sign_in(page, url)
            for w, h in SIZES:
                page.set_viewport_size({"width": w, "height": h})
                for name, path in (
                    ("cases", "/cases"),
                    ("case", f"/cases/{REGISTERED}"),
                    ("case", f"/cases/{REJECTED}"),
                ):
                    page.goto(f"{url}{path}?lang={lang}")
                    _no_overflow(page)
                    if SHOTS and path.endswith(REGISTERED):
                        page.screenshot(path=f"{SHOTS}/bridge-case-{lang}-{w}x{h}.png", full_page=True)
                    elif SHOTS and name == "cases":
                        page.screenshot(path=f"{SHOTS}/bridge-cases-{lang}-{w}x{h}.png")
                    elif SHOTS and (w, h) == SIZES[0]:
                        page.locator("#vin-check").screenshot(path=f"{SHOTS}/bridge-case-vin-mismatch-{lang}.png")
            in_lang.close()
        browser.close()
    assert external == [], f"the case pages fetched from outside: {external}"
