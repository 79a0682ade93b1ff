"""`passlane firmware flash` and `check`: what would be copied onto a Pico (the dry run's staged files and mpremote
commands), the role file as the firmware itself reads it, real mpremote refusing a port with no board, and the HELLO
check against the real firmware on simulated boards over socket://."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import firmware
from edge.broker import free_port
from edge.firmware_flash import BOOT_MAIN, check_hello, expected_firmware
from firmware.main import read_board_cfg, read_pulses_per_rev_x10
from firmware.sim.server import SimBoardServer

REPO = Path(__file__).resolve().parents[2]


def passlane(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("args", "cfg", "kind", "uart", "ppr_x10"),
    [
        (["--role", "io-board"], "io-board", "io-board", False, None),
        (["--role", "plate-issuer", "--uart"], "plate-issuer uart", "plate-issuer", True, None),
        (["--role", "vehicle-board", "--ppr", "3"], "vehicle-board ppr=3", "vehicle-board", False, 30),
    ],
)
def test_the_dry_run_stages_the_firmware_and_the_role_file_the_board_reads(
    tmp_path: Path, args: list[str], cfg: str, kind: str, uart: bool, ppr_x10: int | None
) -> None:
    staged = tmp_path / "stage"
    done = passlane("firmware", "flash", "--port", "/dev/ttyACM0", *args, "--dry-run", "--stage", str(staged))
    assert done.returncode == 0, done.stderr
    package = Path(firmware.__file__).parent
    sources = sorted(p.name for p in package.glob("*.py"))
    assert sorted(p.name for p in (staged / "firmware").iterdir()) == sources, "every board module, no simulator"
    assert "hal_rp2.py" in sources and "main.py" in sources and "lanebus.py" in sources
    for name in sources:
        assert (staged / "firmware" / name).read_bytes() == (package / name).read_bytes()
    assert (staged / "main.py").read_text() == BOOT_MAIN
    assert (staged / "board.cfg").read_text() == cfg + "\n"
    assert read_board_cfg(str(staged / "board.cfg")) == (kind, uart), "the firmware's own reader agrees"
    if ppr_x10 is not None:
        assert read_pulses_per_rev_x10(str(staged / "board.cfg")) == ppr_x10
    commands = [line[2:] for line in done.stdout.splitlines() if line.startswith("$ ")]
    tails = [c.split(" -m mpremote ", 1)[1] for c in commands]
    assert tails == [
        f"connect /dev/ttyACM0 cp -r {staged}/firmware :",
        f"connect /dev/ttyACM0 cp {staged}/board.cfg :board.cfg",
        f"connect /dev/ttyACM0 cp {staged}/main.py :main.py",
        "connect /dev/ttyACM0 reset",
    ]
    assert f"firmware {expected_firmware()}" in done.stdout


def test_a_setting_that_does_not_fit_the_role_is_refused(tmp_path: Path) -> None:
    done = passlane("firmware", "flash", "--port", "/dev/ttyACM0", "--role", "io-board", "--ppr", "2", "--dry-run")
    assert done.returncode == 2 and "vehicle board" in done.stderr


def test_mpremote_finding_no_board_stops_at_the_first_step_and_says_what_to_check(tmp_path: Path) -> None:
    done = passlane("firmware", "flash", "--port", str(tmp_path / "ttyACM9"), "--role", "io-board", "--timeout", "1")
    assert done.returncode == 1
    assert "step 1 failed" in done.stderr and "failed to access" in done.stderr
    assert "MicroPython" in done.stderr and "step 2" not in done.stderr


def test_the_hello_check_passes_for_the_right_board_and_names_the_wrong_one() -> None:
    with SimBoardServer("plate-issuer") as issuer:
        ok = passlane("firmware", "check", "--port", issuer.url, "--role", "plate-issuer")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith("OK") and f"firmware {expected_firmware()}" in ok.stdout
        wrong = passlane("firmware", "check", "--port", issuer.url, "--role", "io-board")
        assert wrong.returncode == 1 and "wrong board" in wrong.stdout


def test_the_hello_check_waits_for_a_board_coming_back_from_its_reset() -> None:
    port = free_port()
    board: list[SimBoardServer] = []
    started = threading.Timer(1.5, lambda: board.append(SimBoardServer("io-board", port=port).start()))
    started.start()
    t0 = time.monotonic()
    try:
        ok, text = check_hello(f"socket://127.0.0.1:{port}", "io-board", timeout_s=20)
    finally:
        started.join()
        for b in board:
            b.stop()
    assert ok, text
    assert time.monotonic() - t0 >= 1.5 and "answers as io-board" in text


def test_nothing_answering_fails_after_the_timeout() -> None:
    ok, text = check_hello(f"socket://127.0.0.1:{free_port()}", "vehicle-board", timeout_s=1.0)
    assert not ok and "no HELLO" in text
