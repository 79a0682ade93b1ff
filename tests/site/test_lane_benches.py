"""`bench lane` and `bench soak` run end to end on a few cars and print their tables (the full-length figures
are `make bench`'s business: no timing is asserted here)."""

from __future__ import annotations

import re

import pytest

from site_sim.bench.lane import run_bench
from site_sim.bench.soak import run_soak

pytestmark = pytest.mark.broker


def test_the_lane_bench_runs_its_cases_and_every_event_is_acknowledged(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(cases=2, idle_s=0.5) == 0
    out = capsys.readouterr().out
    assert "system-added time per case, median" in out and "lane controller RSS" in out
    journaled = re.search(r"events journaled / acknowledged\s+(\d+) / (\d+)", out)
    assert journaled and journaled.group(1) == journaled.group(2) and int(journaled.group(1)) > 0


def test_the_soak_samples_memory_files_and_threads(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_soak(vehicles=3) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+3\s+\d+\.\d\s+\d+\s+\d+\s+\d+\s+", out, re.M), out  # the sample after car 3
    assert "flat: yes" in out and "peak RSS" in out
