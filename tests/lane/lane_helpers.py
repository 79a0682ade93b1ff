"""Shared helpers for the lane tests: a lane.toml for a test broker and boards, the camera, and waiting with a deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from edge.config import LaneConfig, load_config
from site_sim import polling

PINS = {"insp-1": "1234", "insp-2": "5678"}


def write_lane_toml(
    tmp: Path,
    broker,
    pki,
    unit: str = "lane-01",
    *,
    io_url: str,
    issuer_url: str,
    camera: Path | str | None = None,
    ui_port: int = 0,
    extra: str = "",
    authority: str | None = None,
) -> Path:
    """A lane.toml on the test broker, the given board URLs and a camera folder (``tmp/camera`` by default)."""
    for ins, pin in PINS.items():
        (tmp / f"{ins}.pin").write_text(pin + "\n")
    if camera is None:
        camera = tmp / "camera"
        camera.mkdir(exist_ok=True)
    boards = f'\n[io_board]\nurl = "{io_url}"\n\n[plate_issuer]\nurl = "{issuer_url}"\n'
    plates = f'\n[plates]\nauthority = "{authority}"\n' if authority else ""
    text = f'''
site = "site-1"
unit = "{unit}"
stations = ["A"]

[mqtt]
host = "{broker.host}"
port = {broker.port}
request_timeout_s = 3
password = {{ file = "{pki.password_file(unit)}" }}
tls = {{ ca_file = "{pki.ca_cert}" }}

[outbox]
resend_after_s = 2

[telemetry]
interval_s = 1

[journal]
path = "var/lane.sqlite"

[clock]
require_sync = false

[camera]
source = "{camera}"

[inspection]
items = {{ passenger_car = ["vin", "engine", "tyres"] }}
required_photos = ["0111", "0113"]

[ui]
port = {ui_port}
{boards}{plates}
[[inspectors]]
id = "insp-1"
name = "王检验"
pin = {{ file = "insp-1.pin" }}

[[inspectors]]
id = "insp-2"
name = "Li Inspector"
pin = {{ file = "insp-2.pin" }}
{extra}
'''
    path = tmp / "lane.toml"
    path.write_text(text)
    return path


def lane_config(tmp: Path, broker, pki, **kw) -> LaneConfig:
    return load_config(write_lane_toml(tmp, broker, pki, **kw))


def wait_until(pred, timeout: float, what: str = "condition"):
    return polling.wait_until(pred, timeout, what, interval=0.02)


async def await_until(pred, timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def show_vin(camera: Path, vin: str, seed: int = 0) -> Path:
    """The world puts a vehicle in front of the VIN camera: a snapshot camera uploads a frame into the folder
    (written to a temporary name, then renamed, as the uploader does)."""
    from lane_controller.vin_camera import upload_frame
    from vision.synth import render_scene

    return upload_frame(camera, render_scene(vin, seed))


def seed_kept_for_review(reader, vin: str) -> int:
    """A synthetic scene of `vin` the lane keeps (sharp, no glare over the VIN line) and whose read goes to review
    (`reader`: the lane's VinReading or a VinReader)."""
    from vision.capture import quality
    from vision.synth import render_scene

    for seed in range(60):
        frame = render_scene(vin, seed)
        read = reader.read(frame)
        if quality(frame).usable and read.decision == "review" and not quality(frame, read.box).glared:
            return seed
    raise AssertionError(f"no scene of {vin} is read for review")
