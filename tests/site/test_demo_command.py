"""`passlane demo` itself, headless, for a handful of vehicles: it finishes, accounts for every
vehicle and event in its JSON summary, and leaves nothing running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _processes_under(root: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if str(root) in cmdline:
            found.append(proc)
    return found


def test_demo_runs_headless_writes_its_summary_and_stops_everything(tmp_path: Path) -> None:
    root = tmp_path / "demo-site"
    summary_file = tmp_path / "s.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "demo",
            "--vehicles",
            "4",
            "--speed",
            "600",
            "--no-browser",
            "--summary-json",
            str(summary_file),
            "--dir",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "dashboard: http://127.0.0.1:" in result.stdout and "tablet lane-01: http://127.0.0.1:" in result.stdout
    summary = json.loads(summary_file.read_text())
    for key in (
        "vehicles",
        "completed",
        "rejected",
        "aborted",
        "p50_minutes",
        "p95_minutes",
        "max_minutes",
        "share_within_30_min",
        "events_published",
        "events_stored",
        "duplicates",
        "lost",
    ):
        assert key in summary
    assert summary["vehicles"] == 4
    assert summary["completed"] + summary["rejected"] + summary["aborted"] == 4
    assert summary["lost"] == 0 and summary["duplicates"] == 0
    assert summary["events_published"] == summary["events_stored"] > 0
    assert _processes_under(root) == [], "the demo left processes running"
