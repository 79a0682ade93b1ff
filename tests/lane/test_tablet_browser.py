"""The inspector flow end to end in headless Chromium, against a lane process on simulated lane-bus boards and the real bridge."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lane_helpers import show_vin, wait_until, write_lane_toml

from firmware.sim.control import SimControl
from firmware.sim.server import SimBoardServer

REPO = str(Path(__file__).resolve().parents[2])  # run the repo's code, whatever the cwd

pytestmark = [pytest.mark.broker, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lane_on_sim_boards(tmp_path, mqtt_broker, site_pki, cloud):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium not installed")
    io = SimBoardServer("io-board", time_scale=10.0).start()
    issuer = SimBoardServer("plate-issuer", time_scale=20.0).start()
    port = _free_port()
    config = write_lane_toml(
        tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, authority=cloud.settings.authorities[0]
    )
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
        yield f"http://127.0.0.1:{port}", SimControl("127.0.0.1", io.control_port), tmp_path, cloud.good[0]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        io.stop()
        issuer.stop()


def test_inspector_takes_a_vehicle_from_entry_to_exit_on_a_tablet(lane_on_sim_boards):
    from playwright.sync_api import expect, sync_playwright

    base, world, tmp, vehicle = lane_on_sim_boards
    photo = tmp / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, has_touch=True)
        page.set_default_timeout(20000)
        expect.set_options(timeout=15000)  # a shared 2-core machine: be patient, never sleep
        csp_violations: list[str] = []  # the pages work under the lane's Content-Security-Policy (no inline script)
        page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
        try:
            first = page.goto(base + "/")
            expect(page).to_have_url(base + "/login")
            assert "script-src 'self'" in first.headers["content-security-policy"]
            expect(page.locator("h1")).to_have_text("查验员登录")  # zh-CN by default
            page.fill("input[name=inspector_id]", "insp-1")
            page.fill("input[name=pin]", "1234")
            page.click("#sign-in button[type=submit]")
            expect(page).to_have_url(base + "/")
            expect(page.locator("#me")).to_contain_text("王检验")

            page.click("#lang-toggle")
            expect(page.locator("#open-case-A button")).to_have_text("Open case")

            page.fill("#open-case-A input[name=id_number]", vehicle.owner_id_number)
            page.click("#open-case-A button[type=submit]")
            page.wait_for_url("**/cases/*")
            case_id = page.url.rsplit("/", 1)[-1]

            show_vin(tmp / "camera", vehicle.vin)  # the car that will stand at the station, seen by the camera
            page.click("#admit")
            world.vehicle_pass("entry")
            expect(page.locator("#vin-confirm")).to_be_visible()
            cert_vin = page.request.get(f"{base}/api/cases/{case_id}").json()["case"]["certificate_vin"]
            page.fill("#vin-confirm input[name=vin]", cert_vin)
            page.fill("#vin-confirm input[name=reason]", "read from the plate by eye")
            page.click("#vin-confirm button[type=submit]")
            expect(page.locator("#vin-confirmed")).to_have_text(cert_vin)

            for item in ("vin", "engine", "tyres"):
                page.click(f'tr[data-item="{item}"] button.pass')
                expect(page.locator(f'tr[data-item="{item}"] button.pass.on')).to_be_visible()
            page.set_input_files('.photo[data-code="0111"] input[type=file]', str(photo))  # sent once chosen
            expect(page.locator('.photo[data-code="0111"] img')).to_be_visible()
            page.click('.photo[data-code="0113"] button.camera')
            expect(page.locator('.photo[data-code="0113"] img')).to_be_visible()
            page.click("#conclude")

            page.locator("#plate-options button.option").first.click()
            expect(page.locator("#plate")).to_be_visible()
            expect(page.locator("#paid")).to_be_visible()
            page.click("#fitted", timeout=60000)
            page.click("#open-exit")
            world.vehicle_pass("exit")
            expect(page.locator("#stage")).to_have_attribute("data-stage", "closed", timeout=30000)
            expect(page.locator("#outcome")).to_have_text("registered")
            # the journal's times: a 24-hour clock in English too (no "5:20:57 PM")
            times = page.locator("#timeline .ts").all_text_contents()
            assert times and all(re.fullmatch(r"\d\d:\d\d:\d\d", x) for x in times), times

            page.click('header button[data-api="/api/session"]')  # sign out
            expect(page).to_have_url(base + "/login")
            assert page.request.get(f"{base}/api/lane").status == 401
            assert csp_violations == []
        except Exception as exc:
            page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            flash = page.locator("#flash").text_content()
            raise AssertionError(
                f"flash message: {flash!r}; lane log: {(tmp / 'lane.log').read_text()[-1500:]}"
            ) from exc
        finally:
            browser.close()
