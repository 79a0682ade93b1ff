"""Waiting on a condition with a deadline (never a bare sleep as synchronisation)."""

from __future__ import annotations

import time

from edge.mqtt_session import SessionSettings

SITE = "site-1"


def wait_until(pred, timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def session_settings(broker: MosquittoBroker, pki: SitePki, unit: str = "lane-01") -> SessionSettings:
    return SessionSettings(site=SITE, unit=unit, host=broker.host, port=broker.port, username=unit,
                           password=pki.password(unit), ca_file=pki.ca_cert, reconnect_min_s=1, reconnect_max_s=2)
