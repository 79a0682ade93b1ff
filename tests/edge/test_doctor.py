"""`passlane doctor` on a real unit setup: a TLS Mosquitto with the site's accounts, simulated boards running the
real firmware, a snapshot-camera folder and a journal written by the lane's own code. A healthy lane passes every
check; each misconfiguration a site meets is named by the check it belongs to, in words a technician can act on."""

from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.broker import MosquittoBroker, free_port
from edge.clock_sync import ClockState
from edge.contract import EventKind
from edge.doctor import (
    DISK_FAIL_BYTES,
    Result,
    Status,
    board_result,
    ca_result,
    clock_result,
    diagnose,
    disk_result,
    expected_firmware,
)
from edge.journal import Journal, NewEvent
from edge.pki import SitePki
from exam_vehicle.doctor_checks import gnss_result
from firmware.sim.server import SimBoardServer
from lane_controller.vin_camera import upload_frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def boards() -> Iterator[tuple[SimBoardServer, SimBoardServer]]:
    io = SimBoardServer("io-board", control_port=None).start()
    issuer = SimBoardServer("plate-issuer", control_port=None).start()
    yield io, issuer
    io.stop()
    issuer.stop()


def write_lane(
    tmp: Path,
    broker: MosquittoBroker,
    pki: SitePki,
    boards: tuple[SimBoardServer, SimBoardServer],
    *,
    port: int | None = None,
    password_file: Path | None = None,
    ca_file: Path | None = None,
    io_url: str | None = None,
    frame: bool = True,
    events: int = 3,
    clock_probe: str = "true",
) -> Path:
    """A lane.toml for lane-01 on the test broker and boards, its camera folder (one frame) and a journal."""
    camera = tmp / "camera"
    camera.mkdir(exist_ok=True)
    if frame:
        upload_frame(camera, np.full((48, 64, 3), 128, np.uint8))
    (tmp / "pin").write_text("1234\n")
    path = tmp / "lane.toml"
    path.write_text(f'''
site = "site-1"
unit = "lane-01"

[mqtt]
host = "{broker.host}"
port = {port or broker.port}
password = {{ file = "{password_file or pki.password_file("lane-01")}" }}
tls = {{ ca_file = "{ca_file or pki.ca_cert}" }}

[journal]
path = "var/lane.sqlite"

[clock]
sync_command = ["{clock_probe}"]

[io_board]
url = "{io_url or boards[0].url}"

[plate_issuer]
url = "{boards[1].url}"

[camera]
source = "{camera}"

[[inspectors]]
id = "insp-1"
name = "Wang"
pin = {{ file = "pin" }}
''')
    journal = Journal(tmp / "var" / "lane.sqlite", "lane-01")
    for i in range(events):
        journal.record([NewEvent(EventKind.CASE_OPENED, case_id=f"lane-01-261207-00000{i}", station="A")])
    journal.close()
    return path


def by_check(results: list[Result]) -> dict[str, Result]:
    return {r.check: r for r in results}


def assert_only_failing(results: list[Result], check: str, words: str) -> Result:
    """`check` fails naming `words` and has a fix; nothing else fails."""
    found = by_check(results)
    assert found[check].status is Status.FAIL, found[check]
    assert words in found[check].detail, found[check]
    assert found[check].fix
    others = [r for r in results if r.check != check and r.status is Status.FAIL]
    assert not others, others
    return found[check]


def make_ca(path: Path, not_after: dt.datetime) -> Path:
    """A self-signed CA certificate valid until `not_after` (another CA than the site's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old site CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(not_after, dt.datetime.now(dt.UTC)) - dt.timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_healthy_lane_passes_every_check(tmp_path, mqtt_broker, site_pki, boards) -> None:
    results = diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards))
    found = by_check(results)
    assert list(found) == [
        "config", "certificates", "broker", "io-board", "plate-issuer", "disk", "clock", "journal", "camera"
    ]  # fmt: skip
    assert found["clock"] == clock_result(ClockState(True, "command", "true says synchronised"))  # the site's probe
    for r in results:
        assert r.status is Status.OK, r
    assert f"firmware {expected_firmware()}" in found["io-board"].detail
    assert "3 events, chain intact; 3 not yet acknowledged" in found["journal"].detail
    assert "logged in to" in found["broker"].detail


def test_wrong_password_is_named_by_the_broker_check(tmp_path, mqtt_broker, site_pki, boards) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    results = diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards, password_file=wrong))
    assert_only_failing(results, "broker", "refused: bad user name or password")


def test_closed_broker_port_is_not_reachable(tmp_path, mqtt_broker, site_pki, boards) -> None:
    results = diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards, port=free_port()))
    assert_only_failing(results, "broker", "broker not reachable")


def test_expired_ca_fails_certificates_and_the_broker_does_not_trust_it(
    tmp_path, mqtt_broker, site_pki, boards
) -> None:
    old = make_ca(tmp_path / "old-ca.crt", dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    found = by_check(diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards, ca_file=old)))
    assert found["certificates"].status is Status.FAIL and "expired on" in found["certificates"].detail
    assert found["broker"].status is Status.FAIL and "TLS: certificate not trusted" in found["broker"].detail
    assert found["io-board"].status is Status.OK


def test_a_ca_expiring_within_30_days_warns_and_a_missing_one_fails(tmp_path) -> None:
    soon = ca_result(make_ca(tmp_path / "soon.crt", dt.datetime.now(dt.UTC) + dt.timedelta(days=10)))
    assert soon.status is Status.WARN and "expires in 9 days" in soon.detail
    later = ca_result(make_ca(tmp_path / "later.crt", dt.datetime.now(dt.UTC) + dt.timedelta(days=400)))
    assert later.status is Status.OK
    missing = ca_result(tmp_path / "none.crt")
    assert missing.status is Status.FAIL and "missing" in missing.detail
    (tmp_path / "junk.crt").write_text("not a certificate")
    assert ca_result(tmp_path / "junk.crt").status is Status.FAIL


def test_board_url_pointing_nowhere_is_named_by_the_board_check(tmp_path, mqtt_broker, site_pki, boards) -> None:
    nowhere = f"socket://127.0.0.1:{free_port()}"
    results = diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards, io_url=nowhere))
    assert_only_failing(results, "io-board", f"nothing answers at {nowhere}")


def test_the_wrong_board_on_a_port_and_old_firmware_are_named(boards) -> None:
    io, issuer = boards
    wrong = board_result("io-board", issuer.url)
    assert wrong.status is Status.FAIL and "wrong board" in wrong.detail
    old = board_result("plate-issuer", issuer.url, expected="9.9.9")
    assert old.status is Status.FAIL and "expects 9.9.9" in old.detail
    assert "flash the plate-issuer" in old.fix


def test_a_corrupted_journal_row_breaks_the_chain(tmp_path, mqtt_broker, site_pki, boards) -> None:
    path = write_lane(tmp_path, mqtt_broker, site_pki, boards)
    db = sqlite3.connect(tmp_path / "var" / "lane.sqlite")
    db.execute("UPDATE events SET station='B' WHERE seq=2")
    db.commit()
    db.close()
    assert_only_failing(diagnose(path), "journal", "journal chain broken at event 2")


def test_a_camera_folder_with_no_frames_fails_the_camera_check(tmp_path, mqtt_broker, site_pki, boards) -> None:
    results = diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards, frame=False))
    assert_only_failing(results, "camera", "no image")


def test_an_invalid_config_stops_at_the_config_line(tmp_path) -> None:
    path = tmp_path / "lane.toml"
    path.write_text('site = "site-1"\nunit = "lane-01"\ncamra = 1\n')
    results = diagnose(path, "lane")
    assert [r.check for r in results] == ["config"]
    assert results[0].status is Status.FAIL and "camra" in results[0].detail


def test_disk_thresholds(tmp_path) -> None:
    assert disk_result(tmp_path / "not" / "made" / "yet").status is not Status.FAIL  # the nearest existing folder
    assert disk_result(tmp_path, warn=1 << 62, fail=0).status is Status.WARN
    assert disk_result(tmp_path, warn=1 << 62, fail=1 << 61).status is Status.FAIL
    assert DISK_FAIL_BYTES == 200 << 20


def test_the_doctor_judges_the_clock_as_the_unit_does(tmp_path, mqtt_broker, site_pki, boards) -> None:
    """The unit's own `[clock]`: a site probe that says "not synchronised" fails the check, naming it."""
    results = diagnose(write_lane(tmp_path, mqtt_broker, site_pki, boards, clock_probe="false"))
    failed = assert_only_failing(results, "clock", "clock not synchronised: cases and exams cannot start (command:")
    assert "time server" in failed.fix
    assert clock_result(ClockState(True, "not required", "off")).status is Status.OK


def test_the_command_exits_0_when_healthy_and_1_on_a_failure(tmp_path, mqtt_broker, site_pki, boards) -> None:
    path = write_lane(tmp_path, mqtt_broker, site_pki, boards)
    run = [sys.executable, "-m", "edge.cli", "doctor", "--config", str(path)]
    ok = subprocess.run(run + ["--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {r["check"]: r["status"] for r in json.loads(ok.stdout)}["broker"] == "OK"
    for f in (tmp_path / "camera").iterdir():
        f.unlink()
    bad = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 1
    assert "FAIL  camera" in bad.stdout and "fix: check the camera" in bad.stdout


def write_exam_vehicle(path: Path, broker: MosquittoBroker, pki: SitePki, gnss_url: str, board_url: str) -> Path:
    """An exam-vehicle.toml for car-01 on the test broker, its receiver and its vehicle board."""
    path.write_text(f'''site = "site-1"
unit = "car-01"

[mqtt]
host = "{broker.host}"
port = {broker.port}
password = {{ file = "{pki.password_file("car-01")}" }}
tls = {{ ca_file = "{pki.ca_cert}" }}

[gnss]
url = "{gnss_url}"

[vehicle_board]
url = "{board_url}"

[audio]
enabled = false

[clock]
sync_command = ["true"]
''')
    return path


def _babble(server: socket.socket) -> None:
    """Send garbage to whoever connects, as a receiver set to another baud rate does, until they hang up."""
    with server.accept()[0] as conn:
        try:
            while True:
                conn.sendall(bytes(range(256)))
                time.sleep(0.05)
        except OSError:
            return


@pytest.fixture
def exam_site(tmp_path) -> Iterator[tuple[MosquittoBroker, SitePki]]:
    """The site broker with an exam car's account (car-01)."""
    pki = SitePki(tmp_path / "pki")
    pki.init("site-1", {"bridge": "bridge", "car-01": "exam-vehicle"})
    broker = MosquittoBroker(pki, tmp_path / "broker").start()
    yield broker, pki
    broker.stop()


def test_a_healthy_exam_vehicle_passes_and_a_silent_or_garbled_receiver_is_named(tmp_path, exam_site) -> None:
    from site_sim.exam_world import SimCar

    broker, pki = exam_site
    car = SimCar("car-01", 1.0)
    noise = socket.create_server(("127.0.0.1", 0))  # a "receiver" at the wrong baud rate: bytes, never a sentence
    threading.Thread(target=_babble, args=(noise,), daemon=True).start()
    try:
        config = tmp_path / "exam-vehicle.toml"
        write_exam_vehicle(config, broker, pki, car.nmea.url, car.board_url)
        found = by_check(diagnose(config))  # the role guessed from the file
        assert list(found) == ["config", "certificates", "broker", "vehicle-board", "disk", "clock", "journal", "gnss"]
        assert all(r.status is Status.OK for r in found.values()), found
        garbled = f"socket://127.0.0.1:{noise.getsockname()[1]}"
        write_exam_vehicle(config, broker, pki, garbled, car.board_url)
        results = diagnose(config, "exam-vehicle")
        assert "no position epoch parsed" in assert_only_failing(results, "gnss", "bytes from").detail
    finally:
        noise.close()
        car.close()
    assert gnss_result(f"socket://127.0.0.1:{free_port()}", 115200, wait_s=1).status is Status.FAIL
