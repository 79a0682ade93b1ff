"""The vehicle board from the command line, as a user runs it: `passlane sim vehicle-board` in a
subprocess with its control port, driven by `SimControl`; `passlane board status|events --kind
vehicle-board` against it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.sim.control import SimControl

ROOT = Path(__file__).resolve().parents[2]


def passlane(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def car_process(tmp_path: Path) -> Iterator[tuple[str, SimControl, Path]]:
    log = tmp_path / "car.jsonl"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "sim",
            "vehicle-board",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--world-log",
            str(log),
            "--pulses-per-rev",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.startswith("sim vehicle-board"), line
        words = dict(w.split("=", 1) for w in line.split() if "=" in w)
        assert words["time_scale"] == "1.0"  # the car is never sped up
        host, port = words["control"].split(":")
        with SimControl(host, int(port)) as ctl:
            yield words["serial"], ctl, log
    finally:
        p.terminate()
        p.wait(10)


def test_status_shows_every_signal_of_the_simulated_car(car_process):
    url, ctl, log = car_process
    ctl.set_switch("seat_belt", True)
    ctl.set_gear("R")
    ctl.set_switch("ignition", True)
    ctl.set_engine_rpm(1200)
    deadline = time.monotonic() + 10
    while True:  # the board debounces and measures: wait for its status to show the car
        r = passlane("board", "status", "--url", url, "--kind", "vehicle-board", "--json")
        assert r.returncode == 0, r.stderr
        signals = json.loads(r.stdout)["status"]["signals"]
        if signals["engine_running"] and signals["seat_belt"] and abs(signals["engine_rpm"] - 1200) < 200:
            break  # the engine speed settles over the board's 0.5 s window
        assert time.monotonic() < deadline, signals
    assert signals["gear_reverse"] is True and signals["gear_neutral"] is False
    assert set(signals) == {
        "seat_belt",
        "door_open",
        "handbrake",
        "gear_neutral",
        "gear_reverse",
        "clutch",
        "brake",
        "turn_left",
        "turn_right",
        "ignition",
        "engine_running",
        "engine_rpm",
    }
    r = passlane("board", "status", "--url", url, "--kind", "vehicle-board")
    assert r.returncode == 0 and "seat_belt        True" in r.stdout and "tach 2 pulses/rev" in r.stdout
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert {"switch", "gear", "engine"} <= set(events)


def test_events_cli_prints_signal_changes_as_json_lines(car_process):
    url, ctl, _ = car_process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "board",
            "events",
            "--url",
            url,
            "--kind",
            "vehicle-board",
            "--seconds",
            "20",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[dict] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends when the CLI's --seconds are up
            seen.append(json.loads(line))
            if seen[-1]["event"] == "online":  # handshake done: what the board reports from now on is printed
                ctl.set_switch("door_open", True)
            if seen[-1]["event"] == "signal_changed":
                break
    finally:
        proc.terminate()
        proc.wait(10)
    assert {"event": "signal_changed", "signal": "door_open", "value": True}.items() <= seen[-1].items(), seen
