"""`passlane exam judge`: a recorded track judged offline gives each driver profile's expected result, as text and as JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from judge_helpers import simulated

from site_sim.exam_car import PROFILES, write_track

ROOT = Path(__file__).resolve().parents[2]


def _judge(track: Path, *extra: str, car: str = "c1-example") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "exam",
            "judge",
            "--course",
            "example-site",
            "--car",
            car,
            "--track",
            str(track),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "profile", ["clean", "bay-stop-3s", "hill-rollback-35cm", "par-no-signal", "rtk-lost-5s", "c2-clean"]
)
def test_a_profiles_track_judged_from_the_command_line_gets_its_expected_result(profile: str, tmp_path: Path) -> None:
    header, inputs = simulated(profile)
    track = tmp_path / ("track.jsonl.gz" if profile == "par-no-signal" else "track.jsonl")
    write_track(track, header, list(inputs))
    p, expect = PROFILES[profile]
    out = _judge(track, "--json", car=p.car)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert tuple(e["rule_id"] for e in events if e["kind"] == "deduction") == expect.deductions
    result = events[-1]
    assert (result["kind"], result["ended_by"], result.get("passed")) == ("result", expect.ended_by, expect.passed)
    assert result["rules_version"] == ("c2-2022.1" if p.car == "c2-example" else "c1-2022.1")


def test_the_text_output_names_items_deductions_and_the_result(tmp_path: Path) -> None:
    header, inputs = simulated("bay-stop-3s")
    write_track(tmp_path / "t.jsonl", header, list(inputs))
    out = _judge(tmp_path / "t.jsonl")
    assert out.returncode == 0
    assert "item started   倒车入库 reverse_into_bay" in out.stdout
    assert "deduction   -5  bay-stop-over-2s  中途停车时间超过2s" in out.stdout
    assert out.stdout.rstrip().endswith("result         95 points, passed (completed), rules c1-2022.1")


def test_an_explicit_rules_table_and_bad_input_from_the_command_line(tmp_path: Path) -> None:
    header, inputs = simulated("clean")
    write_track(tmp_path / "t.jsonl", header, list(inputs))
    ok = _judge(tmp_path / "t.jsonl", "--rules", "c1-2022", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout.splitlines()[-1])["passed"] is True
    (tmp_path / "bad.jsonl").write_text('{"kind": "nonsense"}\n')
    bad = _judge(tmp_path / "bad.jsonl")
    assert bad.returncode == 2 and "unknown track line kind" in bad.stderr
    wrong = _judge(tmp_path / "t.jsonl", "--rules", str(tmp_path / "missing.toml"))
    assert wrong.returncode == 2 and "cannot read" in wrong.stderr
