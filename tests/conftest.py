"""Fixtures shared by every test folder: a real TLS Mosquitto with per-unit accounts.

`site_pki` creates a site (CA, broker certificate, accounts for a bridge, an
ops viewer and three lanes); `mqtt_broker` runs a private Mosquitto on a free
port for one test and stops it afterwards. Both are real: no mocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.broker import MosquittoBroker
from edge.pki import SitePki

SITE = "site-1"
UNITS = {"bridge": "bridge", "ops": "ops", "lane-01": "lane", "lane-02": "lane", "lane-03": "lane"}


@pytest.fixture(scope="session")
def site_pki(tmp_path_factory: pytest.TempPathFactory) -> SitePki:
    pki = SitePki(tmp_path_factory.mktemp("pki"))
    pki.init(SITE, UNITS)
    return pki


@pytest.fixture
def mqtt_broker(site_pki: SitePki, tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(site_pki, tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
