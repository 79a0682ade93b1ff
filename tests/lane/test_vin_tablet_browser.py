"""The VIN check on the tablet in headless Chromium: a lane process with the real reader and verifier.

A car whose plate shows a VIN one symbol off its certificate's is not confirmed:
the page shows both VINs aligned symbol by symbol with the difference marked,
on the table and on the zoomable crop. The car with the certificate's VIN is
confirmed without the inspector. Screenshots (zh-CN and English, landscape
1024x768 and portrait 768x1024, lane-vin-*.png) are saved when PASSLANE_SCREENSHOTS
names a folder (docs/screenshots holds the last ones looked at).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lane_helpers import show_vin, wait_until, write_lane_toml

from firmware.sim.server import SimBoardServer
from lane_controller.i18n import STRINGS

REPO = str(Path(__file__).resolve().parents[2])
SHOTS = os.environ.get("PASSLANE_SCREENSHOTS")  # a folder to save the page's screenshots in (docs/screenshots)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

pytestmark = [pytest.mark.broker, pytest.mark.browser]


@pytest.fixture
def lane_with_reader(tmp_path, mqtt_broker, site_pki, cloud):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium not installed")
    from test_tablet_browser import _free_port

    from firmware.sim.control import SimControl

    io = SimBoardServer("io-board", time_scale=10.0).start()
    issuer = SimBoardServer("plate-issuer", time_scale=20.0).start()
    port = _free_port()
    config = write_lane_toml(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
    log = open(tmp_path / "lane.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(config), "--port", str(port)],
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
        wait_until(up, 60, "lane up")
        yield f"http://127.0.0.1:{port}", SimControl("127.0.0.1", io.control_port), tmp_path, cloud.good
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        io.stop()
        issuer.stop()


def one_off(vin: str) -> str:
    """The VIN with one serial digit changed: another car of the same batch."""
    k = 14
    return vin[:k] + ("3" if vin[k] != "3" else "8") + vin[k + 1 :]


def _matching_seed(vin: str) -> int:
    """A camera scene of `vin` the verifier matches (after the camera's JPEG, as the lane sees it)."""
    import cv2
    import numpy as np

    from vision.synth import render_scene
    from vision.verifier import VinVerifier

    verifier = VinVerifier()
    for seed in range(20):
        ok, jpg = cv2.imencode(".jpg", render_scene(vin, seed), [cv2.IMWRITE_JPEG_QUALITY, 95])
        frame = cv2.imdecode(np.frombuffer(jpg.tobytes(), np.uint8), cv2.IMREAD_COLOR)
        check = verifier.verify(frame, vin).read.verification
        if ok and check is not None and check.decision == "match":
            return seed
    raise AssertionError(f"no scene of {vin} in 20 seeds is a match")


def _case_at_station(page, base: str, world, camera: Path, owner_id: str, shown) -> tuple[str, str]:
    """A case for the owner; the car at the station shows `shown(certificate VIN)` -> (VIN, seed).
    Returns the case id and the certificate's VIN."""
    page.goto(base + "/")
    page.fill("#open-case-A input[name=id_number]", owner_id)
    page.click("#open-case-A button[type=submit]")
    page.wait_for_url("**/cases/*")
    case_id = page.url.rsplit("/", 1)[-1]

    def cert() -> str | None:
        return page.request.get(f"{base}/api/cases/{case_id}").json()["case"]["certificate_vin"]

    wait_until(lambda: cert() is not None, 30, "partner records")
    certificate = cert()
    show_vin(camera, *shown(certificate))
    page.click("#admit")
    world.vehicle_pass("entry")
    wait_until(
        lambda: page.request.get(f"{base}/api/cases/{case_id}").json()["case"]["vin_read"] is not None, 60, "VIN check"
    )
    page.reload()
    return case_id, certificate


def test_the_tablet_shows_the_certificate_vin_and_the_read_aligned_with_the_difference_marked(lane_with_reader):
    from playwright.sync_api import expect, sync_playwright

    base, world, tmp, vehicles = lane_with_reader
    car = vehicles[0]

    def shot(locator, name: str) -> None:
        """The element as it lies on the page (from the top: the case page's sticky head covers nothing of it)."""
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            box = locator.bounding_box()
            page.screenshot(path=str(Path(SHOTS) / name), full_page=True, clip=box)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 768}, has_touch=True)
        page.set_default_timeout(30000)
        expect.set_options(timeout=30000)
        try:
            page.goto(base + "/login")
            page.fill("input[name=inspector_id]", "insp-1")
            page.fill("input[name=pin]", "1234")
            page.click("#sign-in button[type=submit]")
            expect(page).to_have_url(base + "/")

            case_id, cert = _case_at_station(
                page, base, world, tmp / "camera", car.owner_id_number, lambda vin: (one_off(vin), 3)
            )
            check = page.request.get(f"{base}/api/cases/{case_id}").json()["case"]["vin_read"]["verification"]
            assert check["expected"] == cert and check["decision"] != "match"
            expect(page.locator("#stage")).to_have_attribute("data-stage", "admitted")
            expect(page.locator("#vin-compare")).to_be_visible()
            assert (
                15 in check["differs_at"]
            )  # the changed serial digit is named, and marked in the table and on the crop
            expect(page.locator("#vin-compare tr").first.locator("td").nth(14)).to_have_class("diff")
            mark = page.locator(".vin-mark", has_text="15")
            expect(mark).to_be_visible()
            crop = page.locator(".vin-crop").bounding_box()
            box = mark.bounding_box()
            assert crop["x"] + 0.7 * crop["width"] < box["x"] + box["width"] / 2, "the mark sits over symbol 15"
            expect(page.locator("#vin-verdict")).to_have_text(STRINGS[f"verdict_{check['decision']}"]["zh-CN"])
            for lang in ("zh-CN", "en"):
                if lang == "en":
                    page.click("#lang-toggle")
                    expect(page.locator("#vin-verdict")).to_have_text(STRINGS[f"verdict_{check['decision']}"]["en"])
                for w, h in ((1024, 768), (768, 1024)):
                    page.set_viewport_size({"width": w, "height": h})
                    page.locator("#vin").scroll_into_view_if_needed()
                    assert page.evaluate("document.documentElement.scrollWidth") <= w, "nothing wider than the tablet"
                    # the whole crop (all 17 symbols) is drawn inside the card, at the card's width
                    card, img = page.locator("#vin").bounding_box(), page.locator(".vin-crop").bounding_box()
                    assert card["x"] <= img["x"] and img["x"] + img["width"] <= card["x"] + card["width"], (w, img)
                    assert img["width"] >= 0.8 * card["width"], (w, img, card)
                    assert page.evaluate(
                        "(() => { const i = document.querySelector('.vin-crop');"
                        " return Math.abs(i.clientWidth / i.clientHeight - i.naturalWidth / i.naturalHeight) < 0.05"
                        " * i.naturalWidth / i.naturalHeight; })()"
                    ), "the crop keeps its proportions: nothing of it is cut"
                    shot(page.locator("#vin"), f"lane-vin-mismatch-{lang}-{w}x{h}.png")
            page.set_viewport_size({"width": 1024, "height": 768})
            # tapped, the crop opens full size; the zoom control makes it bigger
            page.click(".vin-open")
            expect(page.locator("#viewer")).to_be_visible()
            expect(page.locator("#viewer-img")).to_have_attribute("data-zoom", re.compile(r"\d"))
            before = page.locator("#viewer-img").bounding_box()["width"]
            page.click('#viewer [data-zoom="1"]')
            page.click('#viewer [data-zoom="1"]')
            assert page.locator("#viewer-img").bounding_box()["width"] > 2 * before
            if SHOTS:
                page.screenshot(path=str(Path(SHOTS) / "lane-vin-zoomed-en-1024x768.png"))
            page.click("#viewer [data-viewer-close]")

            # rejected through the end-or-pause control, with a preset reason and a confirmation
            page.click("#stop summary")
            page.check("#stop input[value=reject]")
            page.select_option("#stop select[name=preset-reject]", "VIN differs from the certificate")
            page.click("#stop button[type=submit]")
            page.click('#stop [data-end-do="reject"]')
            page.click("#open-exit")
            world.vehicle_pass("exit")
            expect(page.locator("#stage")).to_have_attribute("data-stage", "closed")

            other = vehicles[1]
            _, cert = _case_at_station(
                page, base, world, tmp / "camera", other.owner_id_number, lambda vin: (vin, _matching_seed(vin))
            )
            expect(page.locator("#stage")).to_have_attribute("data-stage", "vin_confirmed")
            expect(page.locator("#vin-verdict")).to_have_class("verdict match")
            expect(page.locator("#vin-confirmed")).to_have_text(cert)
            page.click("#vin summary")  # a confirmed VIN is folded away: opened to look at it
            shot(page.locator("#vin"), "lane-vin-match-en-1024x768.png")
        except Exception:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
