"""Lane fixtures: the real cloud bridge and the real firmware on simulated boards (no stand-ins)."""

from __future__ import annotations

import pytest
from lane_cloud import RealCloud

from firmware.sim.server import SimBoardServer

# the world runs this many times faster than real time (it slows a car down to keep pulses visible to the firmware)
TIME_SCALE = 50.0


@pytest.fixture
def cloud(tmp_path, mqtt_broker, site_pki):
    c = RealCloud(tmp_path / "bridge", mqtt_broker, site_pki).start()
    yield c
    c.stop()


@pytest.fixture
def boards():
    """The I/O board and the plate issuer: real firmware on the simulated world, over socket:// serial links."""
    with (
        SimBoardServer("io-board", time_scale=TIME_SCALE) as io,
        SimBoardServer("plate-issuer", time_scale=TIME_SCALE) as issuer,
    ):
        yield io, issuer
