"""The exam bench runs and prints its tables (the 15-minute replay and 2-minute live figures are `passlane bench`'s business)."""

from __future__ import annotations

import pytest

from site_sim.bench.exam import run


def test_the_exam_replay_bench_judges_a_simulated_exam_and_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(minutes=5.0, live_seconds=20.0) == 0
    out = capsys.readouterr().out
    assert "judge replay (best of 3)" in out and "100 points, completed, rules c1-2022.1" in out
    assert "unit CPU at 10 Hz" in out and "epoch -> exam event at a subscriber" in out
