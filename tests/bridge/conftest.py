"""Bridge fixtures: both store engines (SQLite file, private PostgreSQL), lane clients."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bridge_helpers import PAYMENT_KEY, Lane

from cloud_bridge.ingest import Inbound, IngestResult
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import Store, open_store
from edge.broker import MosquittoBroker
from edge.pki import SitePki
from site_sim import pgcluster


def noon_zone(now: float) -> str:
    """A fixed-offset time zone (`Etc/GMT-8` is UTC+8) whose clock reads between 11:30 and 12:30 at `now`."""
    utc_hour = (now % 86400.0) / 3600.0
    offset = round(12.0 - utc_hour)  # in -12..+12, every one an Etc zone
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
def local_noon(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test at about local noon, so that "today", "yesterday" and "the last hour" never straddle midnight,
    whatever hour the suite runs at (CI at 00:40 UTC once found the last hour holding all of today's cases)."""
    zone = noon_zone(time.time())
    if not Path("/usr/share/zoneinfo", zone).exists():
        pytest.fail(f"time zone {zone} is missing: install Debian's tzdata")
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        yield zone
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pgcluster.PgCluster]:
    if not pgcluster.available():
        pytest.skip(f"PostgreSQL server binaries not found in {pgcluster.PG_BIN}")
    cluster = pgcluster.PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


_db_counter = itertools.count()


@pytest.fixture
def pg_url(pg_cluster: pgcluster.PgCluster) -> str:
    return pg_cluster.create_database(f"t{next(_db_counter)}_{uuid.uuid4().hex[:6]}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "bridge.sqlite3")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def ingest(store: Store) -> Callable[..., IngestResult]:
    """Ingest a batch into `store` as a worker does (the events committed, then the default risk rules' alerts raised)."""
    service = IngestService(store, RiskRulesConfig())

    def run(items: list[Inbound], now: float | None = None) -> IngestResult:
        return service.ingest(items, now)

    return run


@pytest.fixture
def payment_key_file(tmp_path: Path) -> Path:
    p = tmp_path / "payment.key"
    p.write_bytes(PAYMENT_KEY)
    return p


@pytest.fixture
def lane_factory(mqtt_broker: MosquittoBroker, site_pki: SitePki) -> Iterator[Callable[[str], Lane]]:
    lanes: list[Lane] = []

    def make(unit: str) -> Lane:
        lane = Lane(mqtt_broker, site_pki, unit)
        lanes.append(lane)
        return lane

    yield make
    for lane in lanes:
        lane.close()
