"""`passlane demo` as a new user meets it: the help says when faults fire and what --keep-running and --keep
do; an open-ended demo shows its first fault within two minutes; --keep-running keeps the site up after
its vehicles until SIGTERM; at the end the demo says where its folder is and how big, and removes a
temporary one unless --keep."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from site_sim import polling
from site_sim.run import FIRST_FAULT_WITHIN_S, fault_delay_s

ROOT = Path(__file__).resolve().parents[2]
FOLDER_LINE = r"site folder (\S+) \((\d+\.\d) MB\) (removed|kept)"


class Demo:
    """`passlane demo ...` in a subprocess whose temporary folders go under `tmp`, its output collected line by line."""

    def __init__(self, tmp: Path, *args: str) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "demo", "--lanes", "1", "--no-browser", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "TMPDIR": str(tmp)},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.family: list[psutil.Process] = []

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        def seen() -> re.Match[str] | None:
            found = next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)
            if found is None and self.proc.poll() is not None:
                raise AssertionError(
                    f"the demo exited with {self.proc.returncode} before /{pattern}/:\n{self.output[-3000:]}"
                )
            return found

        try:
            return polling.wait_until(seen, timeout, f"/{pattern}/")
        except TimeoutError:
            raise AssertionError(f"no /{pattern}/ within {timeout:.0f}s:\n{self.output[-3000:]}") from None

    def sigterm(self, within_s: float = 60.0) -> int:
        self.family = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(within_s)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        """Clean-up after a failed test: the demo and everything it started."""
        if self.proc.poll() is None:
            self.family = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.kill()
        for p in self.family:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait()


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.kill()


def test_the_demo_help_says_when_faults_fire_and_what_keep_running_and_keep_do() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    text = " ".join(r.stdout.split())
    assert r.returncode == 0
    assert "the first listed fires within the first 2 minutes of traffic (real time)" in text
    assert (
        "--keep-running with --vehicles: after them, keep the site (dashboard, tablets) up until Ctrl-C or SIGTERM"
        in text
    )
    assert "removed at the end unless --keep" in text and "--keep keep the temporary site folder" in text


def test_the_first_fault_is_planned_within_two_minutes_and_a_short_run_keeps_its_schedule() -> None:
    for seed in range(20):
        for horizon_sim_s, speed in ((200 / 6 * 3600, 60.0), (200 / 3 * 3600, 600.0), (1e6, 60.0)):
            assert (
                fault_delay_s(random.Random(f"{seed}-jam"), horizon_sim_s, speed, first=True)
                <= FIRST_FAULT_WITHIN_S
                == 120
            )
        # the fault test's run (12 vehicles at 8 an hour, 300x): every fault at 20-60% of the arrivals, as before
        rng, horizon_sim_s = random.Random(f"{seed}-jam"), 12 / 8 * 3600
        expected = random.Random(f"{seed}-jam").uniform(0.2, 0.6) * horizon_sim_s / 300
        assert fault_delay_s(rng, horizon_sim_s, 300.0, first=True) == pytest.approx(expected)


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_an_open_ended_demo_fires_its_first_fault_within_two_minutes_and_removes_its_folder(
    tmp_path: Path, demos: list[Demo]
) -> None:
    demo = Demo(tmp_path / "tmp", "--faults", "jam")
    demos.append(demo)
    root = Path(demo.wait_line(r"starting a site with 1 lanes in (\S+) ", 30).group(1))
    planned = demo.wait_line(r"planned faults \(real time from now\): jam in (\d+):(\d\d)", 180)
    traffic_started = time.monotonic()
    assert int(planned.group(1)) * 60 + int(planned.group(2)) <= 120
    demo.wait_line(r"^fault: jam \(lane-01\)", 130)
    assert time.monotonic() - traffic_started <= 125
    assert demo.sigterm() == 0, demo.output[-3000:]
    folder = re.search(FOLDER_LINE, demo.output)
    assert folder is not None, demo.output[-3000:]
    assert (Path(folder.group(1)), folder.group(3)) == (root, "removed")
    assert float(folder.group(2)) > 0.1
    assert not root.exists() and list((tmp_path / "tmp").glob("passlane-demo-*")) == []


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_keep_running_keeps_the_site_up_after_its_vehicles_until_sigterm_and_keep_keeps_the_folder(
    tmp_path: Path, demos: list[Demo]
) -> None:
    demo = Demo(tmp_path / "tmp", "--vehicles", "1", "--speed", "600", "--keep-running", "--keep")
    demos.append(demo)
    root = Path(demo.wait_line(r"starting a site with 1 lanes in (\S+) ", 30).group(1))
    dashboard = demo.wait_line(r"the site keeps running \(dashboard (\S+)\): Ctrl-C or SIGTERM stops it", 300).group(1)
    assert "summary (1 lanes" in demo.output  # the vehicles are done and accounted for
    assert httpx.get(f"{dashboard}healthz", timeout=10).json()["ok"]
    assert demo.proc.poll() is None
    assert demo.sigterm() == 0, demo.output[-3000:]
    folder = re.search(FOLDER_LINE, demo.output)
    assert folder is not None, demo.output[-3000:]
    assert (Path(folder.group(1)), folder.group(3)) == (root, "kept")
    assert "kept (--keep)" in demo.output
    assert (root / "logs").is_dir()
    assert [p for p in demo.family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
