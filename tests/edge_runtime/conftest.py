from __future__ import annotations

import pytest
from lane_cloud import RealCloud
from rt_helpers import session_settings

from edge.broker import MosquittoBroker
from edge.journal import Journal
from edge.mqtt_session import MqttSession
from edge.pki import SitePki

SITE = "site-1"


@pytest.fixture
def cloud_off(tmp_path, mqtt_broker: MosquittoBroker, site_pki: SitePki):
    """The real cloud bridge, not yet running: nothing acknowledges until the test calls ``start()``."""
    c = RealCloud(tmp_path / "bridge", mqtt_broker, site_pki)
    yield c
    c.stop()


@pytest.fixture
def cloud(cloud_off: RealCloud):
    """The real cloud bridge (cloud_bridge.runner.Bridge, SQLite store), running."""
    return cloud_off.start()


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "lane.sqlite", "lane-01")
    yield j
    j.close()


@pytest.fixture
def session(mqtt_broker, site_pki):
    s = MqttSession(session_settings(mqtt_broker, site_pki))
    s.start()
    assert s.wait_connected(10)
    yield s
    s.stop()
