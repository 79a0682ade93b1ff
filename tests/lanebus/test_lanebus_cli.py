"""The CLIs as a user runs them: `passlane sim ...` in a subprocess, then
`passlane board ...` commands against it (open/close with a vehicle passing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def passlane(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def sim_process(tmp_path):
    procs = []

    def start(kind: str) -> tuple[str, str]:
        log = tmp_path / f"{kind}.jsonl"
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "sim",
                kind,
                "--listen",
                "127.0.0.1:0",
                "--control",
                "127.0.0.1:0",
                "--time-scale",
                "10",
                "--world-log",
                str(log),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        assert p.stdout is not None
        line = p.stdout.readline()
        words = dict(w.split("=", 1) for w in line.split() if "=" in w)
        return words["serial"], words["control"]

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def test_sim_and_board_cli_open_and_close_a_barrier_with_a_vehicle_passing(sim_process):
    url, control = sim_process("io-board")
    r = passlane("board", "barrier", "--url", url, "open", "entry", "--wait")
    assert r.returncode == 0, r.stderr
    assert "entry: arm open" in r.stdout
    r = passlane("board", "status", "--url", url)
    assert r.returncode == 0 and "entry  arm=open" in r.stdout
    r = passlane("board", "drive-through", "--url", url, "--control", control, "--barrier", "exit")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "arm closed" in r.stdout and "no arm moved down onto presence" in r.stdout
    r = passlane("board", "barrier", "--url", url, "close", "entry", "--wait")
    assert r.returncode == 0 and "entry: arm closed" in r.stdout


def test_close_refused_is_reported_by_the_cli(sim_process):
    from firmware.sim.control import SimControl

    url, control = sim_process("io-board")
    host, port = control.split(":")
    with SimControl(host, int(port)) as ctl:
        ctl.vehicle_arrive("entry")
        assert passlane("board", "barrier", "--url", url, "open", "entry", "--wait").returncode == 0
        r = passlane("board", "barrier", "--url", url, "close", "entry")
        assert r.returncode == 3 and "REFUSED OCCUPIED" in r.stdout
        assert any(e["event"] == "vehicle_arrived" for e in ctl.world_log())


def test_plate_issuer_cli_issues_a_job(sim_process):
    url, _ = sim_process("plate-issuer")
    r = passlane("board", "issue", "--url", url, "CLI-1", "blue", "京A12345", "--wait")
    assert r.returncode == 0, r.stderr
    assert "done (2/2 plates)" in r.stdout
    r = passlane("board", "status", "--url", url, "--kind", "plate-issuer", "--json")
    assert r.returncode == 0 and '"job_id": "CLI-1"' in r.stdout


def test_board_cli_reports_an_absent_board():
    r = passlane("board", "status", "--url", "socket://127.0.0.1:1")
    assert r.returncode == 4 and "error" in r.stderr


def test_board_events_cli_prints_events_as_json_lines(sim_process):
    import json

    url, _ = sim_process("io-board")
    r = passlane("board", "events", "--url", url, "--seconds", "10", "--count", "2")
    assert r.returncode == 0, r.stderr
    events = {e["event"]: e for e in map(json.loads, r.stdout.splitlines())}
    assert set(events) == {"online", "host_link"}  # the driver's own, and the board's first event
    assert events["host_link"]["up"] is True
