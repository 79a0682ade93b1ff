"""`passlane bridge` commands that read or change an existing database refuse a missing one, naming the
database they looked for and how to give one, instead of creating an empty `var/bridge.sqlite3`; the
commands meant to create it still do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def bridge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "bridge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PASSLANE_USER_PASSWORD": "a long password"},
    )


@pytest.mark.parametrize("command", [["stats"], ["audit", "verify"], ["user", "list"], ["user", "token", "olga"]])
def test_a_read_command_refuses_a_missing_database_and_creates_none(tmp_path: Path, command: list[str]) -> None:
    r = bridge(tmp_path, *command)
    assert r.returncode == 2
    assert f"no bridge database at {tmp_path / 'var' / 'bridge.sqlite3'} (the default)" in r.stderr
    assert "--db" in r.stderr and "--config" in r.stderr and "passlane bridge init-db" in r.stderr
    r = bridge(tmp_path, *command, "--db", "elsewhere.sqlite3")
    assert r.returncode == 2 and f"no bridge database at {tmp_path / 'elsewhere.sqlite3'} (from --db)" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_user_add_still_creates_the_database_and_then_the_read_commands_work(tmp_path: Path) -> None:
    assert bridge(tmp_path, "user", "add", "olga", "--role", "ops-viewer", "--db", "b.sqlite3").returncode == 0
    r = bridge(tmp_path, "user", "list", "--db", "b.sqlite3")
    assert r.returncode == 0 and "olga\tops-viewer" in r.stdout
