from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from firmware.sim.server import SimBoardServer


@pytest.fixture
def io_sim():
    with SimBoardServer("io-board", time_scale=10) as sim:
        yield sim


@pytest.fixture
def issuer_sim():
    with SimBoardServer("plate-issuer", time_scale=20) as sim:
        yield sim
