"""The exam-site bench runs and prints its tables (the full-length figures are `passlane bench exam-site`'s business)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from site_sim.bench.exam_site import CHROMIUM, run


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_the_exam_site_bench_times_the_map_and_the_bridge_with_cars(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(positions=30, seconds=3.0) == 0
    out = capsys.readouterr().out
    on_map = re.search(r"on the map / sent\s+(\d+) / 30", out)
    # a position the page replaced within one frame (a loaded machine) is not seen on its own: most must be
    assert "position -> map" in out and on_map and int(on_map.group(1)) >= 20
    assert "lanes only" in out and "with 20 cars at 10 Hz" in out and "cars / lanes only" in out
