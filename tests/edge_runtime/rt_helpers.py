"""Waiting on a condition with a deadline (never a bare sleep as synchronisation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.mqtt_session import SessionSettings
from site_sim import polling

if TYPE_CHECKING:
    from edge.broker import MosquittoBroker
    from edge.pki import SitePki

SITE = "site-1"


def wait_until(pred, timeout: float, what: str = "condition") -> None:
    polling.wait_until(pred, timeout, what, interval=0.02)


def session_settings(broker: MosquittoBroker, pki: SitePki, unit: str = "lane-01") -> SessionSettings:
    return SessionSettings(
        site=SITE,
        unit=unit,
        host=broker.host,
        port=broker.port,
        username=unit,
        password=pki.password(unit),
        ca_file=pki.ca_cert,
        reconnect_min_s=1,
        reconnect_max_s=2,
    )
