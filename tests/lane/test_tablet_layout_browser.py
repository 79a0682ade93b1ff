"""The tablet's pages in headless Chromium at the tablet's sizes (1024x768 landscape, 768x1024 portrait), in zh-CN and
English: nothing overflows its box, the header stays on one line, and the case page says what to do next.

A lane process with two stations on simulated boards and the real bridge (owners pay only when the test says so)
takes a new-energy car from opening to exit, while a second case waits to enter. At each step every page is
rendered at both sizes and in both languages and measured. Screenshots (tablet-*.png) are saved when
PASSLANE_SCREENSHOTS names a folder (docs/screenshots holds the last ones looked at).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lane_helpers import show_vin, wait_until, write_lane_toml

from edge.contract import NEW_ENERGY_FUELS
from firmware.sim.control import SimControl
from firmware.sim.server import SimBoardServer
from lane_controller.i18n import STRINGS, VALUES

REPO = str(Path(__file__).resolve().parents[2])
SHOTS = os.environ.get("PASSLANE_SCREENSHOTS")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SIZES = ((1024, 768), (768, 1024))
LANGS = ("zh-CN", "en")

pytestmark = [pytest.mark.broker, pytest.mark.browser]

# Every laid-out element whose content is wider than its box (a scroller that means to scroll is left out), and
# the page itself wider than the tablet. Form fields and SVG are left out: they scroll or scale their own content.
OVERFLOWS = """() => {
  const out = [];
  const vw = window.innerWidth;
  const inScroller = el => {
    for (let a = el.parentElement; a; a = a.parentElement) if (["auto", "scroll"].includes(getComputedStyle(a).overflowX)) return true;
    return false;
  };
  if (document.documentElement.scrollWidth > vw) out.push("page " + document.documentElement.scrollWidth + " > " + vw);
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("dialog:not([open]), svg, [hidden]") || ["INPUT", "SELECT", "TEXTAREA", "OPTION"].includes(el.tagName)) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.display === "inline" || !el.getClientRects().length) continue;
    if (["auto", "scroll"].includes(cs.overflowX)) continue;
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      out.push((el.id ? "#" + el.id : el.tagName + "." + el.className) + " " + el.scrollWidth + " > " + el.clientWidth
        + " " + JSON.stringify(el.textContent.trim().slice(0, 40)));
    }
    const r = el.getBoundingClientRect();
    if (r.right > vw + 1 && cs.position !== "fixed" && !inScroller(el)) out.push((el.id || el.tagName) + " right " + r.right + " > " + vw);
  }
  return out;
}"""

# The header on one line: its items share one row, and it is no taller than one line of buttons.
HEADER_LINES = """() => {
  const top = document.getElementById("top");
  const tops = [...top.children].filter(e => e.getClientRects().length).map(e => e.getBoundingClientRect());
  const mid = r => r.top + r.height / 2;
  return { height: top.getBoundingClientRect().height,
           spread: Math.max(...tops.map(mid)) - Math.min(...tops.map(mid)),
           wraps: [...top.querySelectorAll("*")].some(e => e.getClientRects().length > 1) };
}"""


# Two fingers on the viewer, spread from 100 px apart to 200 px: the zoom it ends at over the zoom it began at.
PINCH = """() => {
  const area = document.getElementById("viewer-area"), img = document.getElementById("viewer-img");
  const finger = (id, x) => new Touch({ identifier: id, target: area, clientX: x, clientY: 300 });
  const touch = (kind, touches) => area.dispatchEvent(new TouchEvent(kind, { touches, bubbles: true, cancelable: true }));
  const before = parseFloat(img.dataset.zoom);
  touch("touchstart", [finger(1, 300), finger(2, 400)]);
  touch("touchmove", [finger(1, 250), finger(2, 450)]);
  touch("touchend", []);
  return parseFloat(img.dataset.zoom) / before;
}"""


@pytest.fixture
def lane_two_stations(tmp_path, mqtt_broker, site_pki, cloud) -> Iterator[tuple[str, SimControl, Path, Any]]:
    """A lane process with stations A and B on simulated boards, the bridge's owners paying only when told."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium not installed")
    from test_tablet_browser import _free_port

    cloud.auto_pay = False
    io = SimBoardServer("io-board", time_scale=10.0).start()
    issuer = SimBoardServer("plate-issuer", time_scale=20.0).start()
    port = _free_port()
    config = write_lane_toml(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    config.write_text(config.read_text().replace('stations = ["A"]', 'stations = ["A", "B"]'))
    log = open(tmp_path / "lane.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(config), "--no-reader", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 30, "lane up")
        assert io.control_port is not None
        yield f"http://127.0.0.1:{port}", SimControl("127.0.0.1", io.control_port), tmp_path, cloud
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        io.stop()
        issuer.stop()


class Tablet:
    """The browser page and the lane's API under the same sign-in: sets a case's state, then measures the pages."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.measured: list[str] = []

    def sign_in(self) -> None:
        self.page.goto(self.base + "/login")
        self.page.fill("input[name=inspector_id]", "insp-1")
        self.page.fill("input[name=pin]", "1234")
        self.page.click("#sign-in button[type=submit]")
        self.page.wait_for_url(self.base + "/")

    def case(self, case_id: str) -> dict[str, Any]:
        return self.page.request.get(f"{self.base}/api/cases/{case_id}").json()["case"]

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.page.request.post(self.base + path, **({"data": body} if body is not None else {}))
        data = answer.json()
        assert data.get("ok"), (path, data)
        return data

    def open_case(self, station: str, owner_id: str) -> str:
        cid = self.post("/api/cases", {"station": station, "id_number": owner_id})["case"]["case_id"]
        wait_until(lambda: self.case(cid)["stage"] == "records_fetched", 30, "partner records")
        return cid

    def until(self, case_id: str, stage: str, what: str, patience_s: float = 60) -> dict[str, Any]:
        wait_until(lambda: self.case(case_id)["stage"] == stage, patience_s, what)
        return self.case(case_id)

    def measure(self, path: str, name: str) -> None:
        """The page at both sizes and in both languages: no overflow, a one-line header; a screenshot of each."""
        page = self.page
        for lang in LANGS:
            page.goto(f"{self.base}/lang/{lang}?next={path}")
            page.wait_for_load_state("networkidle")
            for w, h in SIZES:
                page.set_viewport_size({"width": w, "height": h})
                page.evaluate("window.scrollTo(0, 0)")
                where = f"{name} {lang} {w}x{h}"
                assert page.evaluate(OVERFLOWS) == [], where
                header = page.evaluate(HEADER_LINES)
                assert header["height"] <= 56 and header["spread"] <= 6 and not header["wraps"], (where, header)
                if SHOTS:
                    Path(SHOTS).mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(Path(SHOTS) / f"tablet-{name}-{lang}-{w}x{h}.png"), full_page=True)
                self.measured.append(where)
        page.goto(f"{self.base}/lang/zh-CN?next={path}")
        page.set_viewport_size({"width": 1024, "height": 768})


def _browser(p: Any) -> tuple[Any, Any]:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1024, "height": 768}, has_touch=True)
    page.set_default_timeout(30000)
    return browser, page


def test_every_tablet_page_fits_both_tablet_sizes_in_both_languages_and_says_the_next_step(lane_two_stations):
    from playwright.sync_api import expect, sync_playwright

    base, world, tmp, cloud = lane_two_stations
    expect.set_options(timeout=30000)
    nev = next(v for v in cloud.good if v.certificate.fuel_type in NEW_ENERGY_FUELS)  # (the ID card finds one car)
    other = next(v for v in cloud.good if v is not nev)
    photo = tmp / "photo.jpg"
    show_vin(tmp, nev.vin).rename(photo)  # a real JPEG of the car's VIN plate stands for the photo taken
    with sync_playwright() as p:
        browser, page = _browser(p)
        tab = Tablet(page, base)
        try:
            tab.measure("/login", "login")
            tab.sign_in()
            cid = tab.open_case("A", nev.owner_id_number)
            waiting = tab.open_case("B", other.owner_id_number)  # a second car, its case open, not yet let in
            # the overview's headline is the car, and the queue counts what the lane holds
            page.goto(base + "/")
            brand = nev.certificate.brand
            expect(page.locator('.station[data-station="A"] .case-link')).to_contain_text(brand)
            expect(page.locator("#count-waiting")).to_have_text("2")
            expect(page.locator("#count-in-lane")).to_have_text("0")
            expect(page.locator(f'#queue-list li[data-case="{waiting}"]')).to_contain_text(other.certificate.brand)
            tab.measure("/", "overview")

            # records fetched: the head names the step and holds its one primary action
            page.goto(f"{base}/cases/{cid}")
            expect(page.locator("#head[data-step=admit] #admit")).to_be_visible()
            expect(page.locator("#car")).to_contain_text(brand)
            tab.measure(f"/cases/{cid}", "case-admit")

            show_vin(tmp / "camera", nev.vin)
            page.click("#admit")
            expect(page.locator("#confirm-passed")).to_be_visible()  # entry open: the manual passage is offered
            world.vehicle_pass("entry")
            c = tab.until(cid, "admitted", "the car on the station")
            wait_until(lambda: tab.case(cid)["vin_read"] is not None, 60, "VIN photo")
            page.reload()
            expect(page.locator("#confirm-passed")).to_have_count(0)
            # the VIN photo opens full size in the viewer and zooms
            page.click("#vin .vin-open")
            expect(page.locator("#viewer")).to_be_visible()
            expect(page.locator("#viewer-img")).to_have_attribute("data-zoom", re.compile(r"\d"))
            fit = float(page.locator("#viewer-img").get_attribute("data-zoom"))
            width = page.locator("#viewer-img").bounding_box()["width"]
            page.click('#viewer [data-zoom="1"]')
            expect(page.locator("#viewer-img")).not_to_have_attribute("data-zoom", f"{fit:.3f}")
            assert page.locator("#viewer-img").bounding_box()["width"] > 1.4 * width
            assert page.evaluate(OVERFLOWS) == []
            assert page.evaluate(PINCH) == pytest.approx(2.0, rel=0.01)  # two fingers spread twice as far apart
            page.click("#viewer [data-viewer-close]")
            expect(page.locator("#viewer")).to_be_hidden()
            tab.measure(f"/cases/{cid}", "case-vin")

            tab.post(f"/api/cases/{cid}/vin/confirm", {"vin": c["certificate_vin"], "reason": "checked on the vehicle"})
            for item in c["checklist"]:
                tab.post(f"/api/cases/{cid}/items", {"item": item, "result": "pass"})
            page.reload()
            # a photo is taken with the camera input and sent as soon as it is chosen
            capture = page.locator('.photo[data-code="0111"] input[type=file]')
            assert capture.get_attribute("capture") == "environment" and capture.get_attribute("accept") == "image/*"
            capture.set_input_files(str(photo))
            expect(page.locator('.photo[data-code="0111"] img')).to_be_visible()
            tab.post(f"/api/cases/{cid}/photos/0113")
            tab.measure(f"/cases/{cid}", "case-inspection")
            page.click("#head #conclude")
            tab.until(cid, "inspected", "inspection concluded")

            wait_until(lambda: tab.case(cid)["plate_options"], 30, "plate options")
            page.reload()
            page.locator("#plate-options button.option").first.click()
            c = tab.until(cid, "plate_reserved", "plate reserved")
            wait_until(lambda: tab.case(cid)["payment"], 30, "payment started")
            c = tab.case(cid)
            page.reload()
            # the owner pays by scanning a QR code drawn on the lane: no raw link on the page
            expect(page.locator("#pay-qr svg")).to_be_visible()
            assert c["payment"]["pay_url"] not in page.locator("#payment").inner_text()
            assert page.locator("#pay-qr svg").bounding_box()["width"] >= 150
            expect(page.locator("#plate")).to_have_attribute("data-kind", "nev")
            tab.measure(f"/cases/{cid}", "case-payment")

            cloud.pay(c["payment"]["payment_id"], c["payment"]["amount_cents"])
            c = tab.until(cid, "plates_issued", "paid and issued")
            page.reload()
            # issuing names the plate, drawn green (a new-energy plate) with black symbols; no job id
            expect(page.locator("#issued")).to_contain_text(c["plate"])
            assert c["issue_job"] not in page.locator("#plates").inner_text()
            plate = page.locator("#plate")
            expect(plate).to_have_class("plate-number plate-nev")
            assert "gradient" in plate.evaluate("e => getComputedStyle(e).backgroundImage")
            assert plate.evaluate("e => getComputedStyle(e).color") == "rgb(0, 0, 0)"
            expect(page.locator("#head[data-step=fitting] #fitted")).to_be_visible()
            tab.measure(f"/cases/{cid}", "case-plates")

            # the head stays in view (sticky) while the inspector scrolls down the page
            page.set_viewport_size({"width": 1024, "height": 500})
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            assert -1 <= page.locator("#fitted").bounding_box()["y"] <= 500
            page.set_viewport_size({"width": 1024, "height": 768})

            page.click("#fitted")
            page.click("#open-exit")
            expect(page.locator("#confirm-passed")).to_be_visible()
            world.vehicle_pass("exit")
            expect(page.locator("#stage")).to_have_attribute("data-stage", "closed")
            expect(page.locator("#confirm-passed")).to_have_count(0)  # gone once the case is closed
            expect(page.locator("#stop")).to_have_count(0)
            expect(page.locator("#outcome")).to_have_text(VALUES["registered"]["zh-CN"])
            tab.measure(f"/cases/{cid}", "case-closed")
            assert len(tab.measured) == 8 * len(LANGS) * len(SIZES)
        except Exception:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_ending_or_pausing_a_case_takes_a_reason_and_a_confirmation_that_names_the_consequence(lane_two_stations):
    from playwright.sync_api import expect, sync_playwright

    base, _world, tmp, cloud = lane_two_stations
    expect.set_options(timeout=30000)
    with sync_playwright() as p:
        browser, page = _browser(p)
        tab = Tablet(page, base)
        try:
            tab.sign_in()
            cid = tab.open_case("A", cloud.good[0].owner_id_number)
            page.goto(f"{base}/lang/en?next=/cases/{cid}")
            # what the inspector unfolds stays unfolded when the live part re-renders (every few seconds)
            page.locator("#timeline summary").click()
            expect(page.locator("#live")).to_have_attribute("data-version", re.compile(r"\d"))
            expect(page.locator("#timeline")).to_have_attribute("open", "")
            expect(page.locator("#timeline li").first).to_be_visible()
            stop = page.locator("#stop")
            # folded at the foot of the page, below the primary action
            expect(stop).not_to_have_attribute("open", "")
            assert stop.bounding_box()["y"] > page.locator("#admit").bounding_box()["y"] + 100
            stop.locator("summary").click()
            # each action says what it does
            for act in ("reject", "abort", "hold"):
                expect(stop.locator(f"input[value={act}]")).to_have_count(1)
            expect(stop).to_contain_text(STRINGS["end_reject_help"]["en"])
            expect(stop).to_contain_text(STRINGS["end_abort_help"]["en"])
            expect(stop).to_contain_text(STRINGS["end_hold_help"]["en"])

            # the control open and asking for confirmation fits both sizes in both languages
            stop.locator("input[value=reject]").check()
            stop.locator("select[name=preset-reject]").select_option("VIN differs from the certificate")
            stop.locator("button[type=submit]").click()
            expect(stop.locator('.consequence[data-for="reject"]')).to_have_text(STRINGS["end_confirm_reject"]["en"])
            for lang in ("en", "zh-CN"):  # the page is in English now, then in Chinese
                for w, h in SIZES:
                    page.set_viewport_size({"width": w, "height": h})
                    assert page.evaluate(OVERFLOWS) == [], (lang, w, h)
                    if SHOTS:
                        Path(SHOTS).mkdir(parents=True, exist_ok=True)
                        page.evaluate("window.scrollTo(0, 0)")  # the page from its top: the sticky head hides nothing
                        name = f"tablet-end-case-{lang}-{w}x{h}.png"
                        page.screenshot(path=str(Path(SHOTS) / name), full_page=True, clip=stop.bounding_box())
                if lang == "en":  # the same state in Chinese
                    page.goto(f"{base}/lang/zh-CN?next=/cases/{cid}")
                    stop.locator("summary").click()
                    stop.locator("input[value=reject]").check()
                    stop.locator("select[name=preset-reject]").select_option("VIN differs from the certificate")
                    stop.locator("button[type=submit]").click()
                    expect(stop.locator('.consequence[data-for="reject"]')).to_have_text(
                        STRINGS["end_confirm_reject"]["zh-CN"]
                    )
            assert tab.case(cid)["stage"] == "records_fetched"  # asked, never done
            page.set_viewport_size({"width": 1024, "height": 768})
            page.goto(f"{base}/lang/en?next=/cases/{cid}")
            stop.locator("summary").click()

            # no reason: nothing happens but the ask
            stop.locator("input[value=abort]").check()
            stop.locator("button[type=submit]").click()
            expect(stop.locator("[data-need-reason]")).to_be_visible()
            assert tab.case(cid)["stage"] == "records_fetched"

            # a preset reason: the confirmation names the consequence; going back changes nothing
            stop.locator("select[name=preset-abort]").select_option("owner left")
            stop.locator("button[type=submit]").click()
            expect(stop.locator('.consequence[data-for="abort"]')).to_have_text(STRINGS["end_confirm_abort"]["en"])
            expect(stop.locator('.consequence[data-for="reject"]')).to_be_hidden()
            assert tab.case(cid)["stage"] == "records_fetched" and tab.case(cid)["outcome"] is None
            stop.locator("[data-end-back]").click()
            expect(stop.locator("[data-confirm]")).to_be_hidden()

            # hold with a preset and the inspector's words: paused, and resumed from the head's primary button
            stop.locator("input[value=hold]").check()
            stop.locator("select[name=preset-hold]").select_option("waiting for documents")
            stop.locator("input[name=more]").fill("driving licence copy")
            stop.locator("button[type=submit]").click()
            stop.locator('[data-end-do="hold"]').click()
            expect(page.locator("#head[data-step=hold] #resume")).to_be_visible()
            assert tab.case(cid)["hold"] == "waiting for documents: driving licence copy"
            page.goto(f"{base}/lang/zh-CN?next=/cases/{cid}")
            expect(page.locator("#hold")).to_contain_text("等候材料：driving licence copy")
            page.click("#resume")
            expect(page.locator("#head[data-step=admit] #admit")).to_be_visible()

            # abort, confirmed: the case ends as aborted with the reason given
            page.locator("#stop summary").click()
            page.locator("#stop input[value=abort]").check()
            page.locator("#stop select[name=preset-abort]").select_option("owner left")
            page.locator("#stop button[type=submit]").click()
            page.locator('#stop [data-end-do="abort"]').click()
            expect(page.locator("#stage")).to_have_attribute("data-stage", "closed")
            c = tab.case(cid)
            assert c["outcome"] == "aborted" and c["reason"] == "owner left"
            expect(page.locator("#head")).to_contain_text("车主离开")
        except Exception:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_an_owner_with_two_pending_cars_is_asked_which_one_is_at_the_lane(lane_two_stations):
    """An ID card names the owner, not the car: the tablet lists the owner's pending cars, the inspector picks the
    one at the lane, and only then is the car's record judged and the admit button offered; the bridge is told."""
    from playwright.sync_api import expect, sync_playwright

    base, _world, tmp, cloud = lane_two_stations
    expect.set_options(timeout=30000)
    owners = [v.owner_id_number for v in cloud.data.vehicles]
    fleet = next(o for o in owners if owners.count(o) == 2 and sum(v.owner_id_number == o for v in cloud.fleet) == 2)
    first, here = sorted((v for v in cloud.fleet if v.owner_id_number == fleet), key=lambda v: v.vin)
    with sync_playwright() as p:
        browser, page = _browser(p)
        tab = Tablet(page, base)
        try:
            tab.sign_in()
            cid = tab.open_case("A", fleet)
            page.goto(f"{base}/cases/{cid}")
            expect(page.locator("#head[data-step=vehicle_choice] a[href='#vehicle-choice']")).to_be_visible()
            expect(page.locator("#admit")).to_have_count(0)
            rows = page.locator("#vehicle-choice tr")
            expect(rows).to_have_count(2)
            expect(rows.nth(0)).to_contain_text(first.vin)
            expect(rows.nth(1)).to_contain_text(here.certificate.brand)
            tab.measure(f"/cases/{cid}", "case-vehicle-choice")

            rows.filter(has_text=here.vin).locator("button").click()
            expect(page.locator("#head[data-step=admit] #admit")).to_be_visible()
            expect(page.locator("#partner table.kv")).to_contain_text(here.vin)
            expect(rows.filter(has_text=here.vin)).to_contain_text(STRINGS["chosen_vehicle"]["zh-CN"])
            expect(rows.filter(has_text=first.vin).locator("button")).to_be_visible()  # still correctable
            c = tab.case(cid)
            assert c["certificate_vin"] == here.vin and c["partner"]["other_vehicles"] == [first.vin]
            tab.measure(f"/cases/{cid}", "case-vehicle-chosen")

            def told() -> bool:
                return any(
                    e["kind"] == "case.partner_records" and here.vin in str(e["data"]) and "chosen" in str(e["data"])
                    for e in cloud.events().values()
                    if e["case_id"] == cid
                )

            wait_until(told, 30, "the bridge told of the choice")
            wait_until(lambda: cloud.storage.case(cid)["cert_vin"] == here.vin, 30, "the bridge's case view")
            tab.post(f"/api/cases/{cid}/abort", {"reason": "owner left"})
        except Exception:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
