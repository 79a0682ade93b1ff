from __future__ import annotations

import time

import pytest

from edge.broker import MosquittoBroker
from edge.pki import SitePki
from edge.journal import Journal
from edge.mqtt_session import MqttSession
from rt_helpers import session_settings
from lane_controller.cloud_stub import CloudStub

SITE = "site-1"


@pytest.fixture
def cloud(mqtt_broker: MosquittoBroker, site_pki: SitePki):
    stub = CloudStub(mqtt_broker.host, mqtt_broker.port, site_pki.ca_cert, "bridge", site_pki.password("bridge"), SITE).start()
    yield stub
    stub.stop()


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
