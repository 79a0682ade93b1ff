"""The bench's exam replay runs and prints its table (the 15-minute figure is `passlane bench`'s business)."""

from __future__ import annotations

import pytest

from site_sim.bench.exam import run


def test_the_exam_replay_bench_judges_a_simulated_exam_and_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(minutes=5.0) == 0
    out = capsys.readouterr().out
    assert "judge replay (best of 3)" in out and "100 points, completed, rules c1-2022.1" in out
