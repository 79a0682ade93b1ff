from __future__ import annotations

import pytest

from lane_controller.cloud_stub import CloudStub


@pytest.fixture
def cloud(mqtt_broker, site_pki):
    stub = CloudStub(mqtt_broker.host, mqtt_broker.port, site_pki.ca_cert, "bridge", site_pki.password("bridge"), "site-1").start()
    yield stub
    stub.stop()
