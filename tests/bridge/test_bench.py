"""`passlane bench bridge` runs end to end and prints its tables (a short run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.broker
def test_bench_quick_run_prints_the_ingest_and_lookup_tables_and_exits_0() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bench", "bridge", "--quick", "--lanes", "4", "--only", "sqlite,lookups"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "broker only (bare subscriber)" in out.stdout and "SQLite" in out.stdout
    assert "partner.lookup" in out.stdout and "plate.reserve" in out.stdout
    rows = {
        line.split()[0]: line.split() for line in out.stdout.splitlines() if line.startswith(("partner.", "plate."))
    }
    assert {kind: row[2] for kind, row in rows.items()} == dict.fromkeys(
        ("partner.lookup", "plate.options", "plate.reserve"), "0"
    ), "every look-up of the bench must be answered ok (an error answer measures nothing)"
    assert "every event stored exactly once: yes" in out.stdout
