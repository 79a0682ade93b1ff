"""What a unit writes to its log (journald, under systemd: its stdout and stderr) never holds a secret: a lane run
verbosely signs inspectors in (a right and a wrong PIN), is refused by the broker for a wrong password, and has a
camera URL with a password; `passlane doctor` prints what it found. None of their output holds a password or PIN."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lane_helpers import wait_until, write_lane_toml

from edge.broker import MosquittoBroker, free_port
from edge.pki import SitePki
from firmware.sim.server import SimBoardServer

pytestmark = [pytest.mark.broker]
REPO = str(Path(__file__).resolve().parents[2])
PIN = "pin-Zq81x-secret"
WRONG_PIN = "pin-Wr0ng-guess"
CAMERA_PASSWORD = "cam-Pw-4471-secret"


def _lane_log(config: Path, port: int, until: str, actions) -> str:
    """Run `passlane lane run -v` until `until` holds, do `actions`, stop it; everything it wrote."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(config), "--no-reader", "-v",
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
    )  # fmt: skip
    try:

        def health() -> dict:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()  # type: ignore[no-any-return]
            except (httpx.HTTPError, ValueError):
                return {}

        wait_until(lambda: health() and (until != "connected" or health().get("cloud_connected")), 30, until)
        actions(f"http://127.0.0.1:{port}")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out


def _sign_ins(base: str) -> None:
    for pin, expected in ((WRONG_PIN, 401), (PIN, 200)):
        r = httpx.post(f"{base}/api/session", json={"inspector_id": "insp-1", "pin": pin}, timeout=5)
        assert r.status_code == expected, r.text


def _secrets_in(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


@pytest.mark.timeout(180)
def test_a_lanes_log_and_the_doctors_output_hold_no_password_or_pin(
    tmp_path: Path, mqtt_broker: MosquittoBroker, site_pki: SitePki
) -> None:
    camera = f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:{free_port()}/vin"
    secrets = {
        "mqtt password": site_pki.password("lane-01"),
        "inspector PIN": PIN,
        "wrong PIN typed": WRONG_PIN,
        "camera password": CAMERA_PASSWORD,
    }
    with SimBoardServer("io-board") as io, SimBoardServer("plate-issuer") as issuer:
        config = write_lane_toml(
            tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, camera=camera, ui_port=0
        )
        (tmp_path / "insp-1.pin").write_text(PIN + "\n")
        log = _lane_log(config, free_port(), "connected", _sign_ins)
        assert "lane lane-01 running" in log
        assert not _secrets_in(log, secrets), _secrets_in(log, secrets)

        wrong = "wrong-Broker-pw-9931"
        secrets["wrong mqtt password"] = wrong
        (tmp_path / "wrong.password").write_text(wrong + "\n")
        text = config.read_text().replace(str(site_pki.password_file("lane-01")), str(tmp_path / "wrong.password"))
        config.write_text(text)
        refused = _lane_log(config, free_port(), "tablet up", lambda base: None)
        assert "broker refused connection" in refused, "the refusal was logged: the path this checks ran"
        assert not _secrets_in(refused, secrets), _secrets_in(refused, secrets)

        doctor = subprocess.run(
            [sys.executable, "-m", "edge.cli", "doctor", "--config", str(config)],
            capture_output=True, text=True, cwd=REPO, timeout=120,
        )  # fmt: skip
        assert "broker" in doctor.stdout and "camera" in doctor.stdout, doctor.stdout
        assert "admin:***@" in doctor.stdout, "the camera named without its password"
        assert not _secrets_in(doctor.stdout + doctor.stderr, secrets), _secrets_in(doctor.stdout, secrets)
