"""Fuzz fixtures: both bridge store engines, and the count of examples each target ran (printed by `make fuzz`)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fuzz_helpers
import pytest
from fuzz_bridge import Store, ingester, open_migrated, pgcluster

_db_counter = itertools.count()


@pytest.fixture(autouse=True)
def _name_the_target(request: pytest.FixtureRequest) -> Iterator[None]:
    fuzz_helpers.CURRENT["test"] = request.node.nodeid
    yield
    fuzz_helpers.CURRENT["test"] = "?"


@pytest.fixture(scope="session")
def fuzz_pg_cluster() -> Iterator[pgcluster.PgCluster]:
    if not pgcluster.available():
        pytest.skip(f"PostgreSQL server binaries not found in {pgcluster.PG_BIN}")
    cluster = pgcluster.PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "bridge.sqlite3")
    cluster = request.getfixturevalue("fuzz_pg_cluster")
    return cluster.create_database(f"fz{next(_db_counter)}_{uuid.uuid4().hex[:6]}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated bridge store on SQLite, and on PostgreSQL (PostgreSQL refuses strings SQLite keeps: NUL characters)."""
    s = open_migrated(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def ingest(store: Store) -> Callable[..., Any]:
    """Ingest a batch into `store` as a worker does."""
    return ingester(store)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Under `make fuzz` (PASSLANE_FUZZ set): examples run per target, and how many targets failed."""
    if not os.environ.get("PASSLANE_FUZZ") or not fuzz_helpers.EXAMPLES:
        return
    tr = terminalreporter
    failed = len(tr.stats.get("failed", [])) + len(tr.stats.get("error", []))
    tr.write_sep("=", f"fuzz summary (hypothesis profile {fuzz_helpers.PROFILE!r})")
    for target, n in sorted(fuzz_helpers.EXAMPLES.items()):
        tr.write_line(f"{n:>9}  {target}")
    tr.write_line(
        f"{sum(fuzz_helpers.EXAMPLES.values()):>9}  examples in {len(fuzz_helpers.EXAMPLES)} targets; failures: {failed}"
    )
