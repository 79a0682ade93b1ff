"""`passlane board` when no board is there: the URL must be given (no silent simulator default), and the
error says what is wrong: nothing listens at a socket URL, or the serial device does not exist."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def board(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "board", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_board_url_is_required() -> None:
    r = board("status")
    assert r.returncode == 2 and "the following arguments are required: --url" in r.stderr


def test_nothing_listening_is_reported_as_connection_refused_at_the_url() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{s.getsockname()[1]}"
    r = board("status", "--url", url)
    assert r.returncode == 4
    assert r.stderr.strip() == f"error: connection refused at {url}"


def test_a_missing_serial_device_is_reported_as_no_such_device(tmp_path: Path) -> None:
    device = str(tmp_path / "ttyACM9")
    r = board("status", "--url", device)
    assert r.returncode == 4
    assert r.stderr.strip() == f"error: no such device {device}"
