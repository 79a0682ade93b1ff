"""`passlane firmware flash --port PORT --role ROLE` and `passlane firmware check`: a Pico from MicroPython to a board.

Flashing is four `mpremote` runs against a Pico that runs MicroPython
(`firmware/README.md` says how to get it there): copy the firmware package
(``firmware/*.py`` of this installation, the very files the host's lane-bus
driver and the simulator use) to ``:firmware/``, write the role to
``:board.cfg``, write the two-line ``:main.py`` that starts it, reset. The board
then speaks the lane bus on the same USB port, so the command finally waits
for its HELLO and checks its kind and firmware version, as `passlane doctor`
does. ``--dry-run`` stages the files and prints the commands without touching
a board.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge.doctor import expected_firmware

ROLES = ("io-board", "plate-issuer", "vehicle-board")
BOOT_MAIN = "from firmware.main import main\nmain()\n"
"""The board's /main.py (firmware/main.py's docstring)."""
MPREMOTE_TIMEOUT_S = 120.0


def firmware_sources() -> list[Path]:
    """The files a board runs: every module of the `firmware` package except the CPython-only simulator."""
    import firmware

    folder = Path(firmware.__file__).parent
    return sorted(p for p in folder.glob("*.py"))


def board_cfg(role: str, uart: bool = False, ppr: float | None = None) -> str:
    """The board's /board.cfg: its role, ``uart`` for the lane bus on UART0, a vehicle board's ``ppr=N``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if ppr is not None and role != "vehicle-board":
        raise ValueError("--ppr is a vehicle board's setting")
    words = [role] + (["uart"] if uart else []) + ([f"ppr={ppr:g}"] if ppr is not None else [])
    return " ".join(words) + "\n"


def stage(folder: Path, role: str, uart: bool = False, ppr: float | None = None) -> Path:
    """Write what goes onto the board into ``folder``: ``firmware/``, ``board.cfg``, ``main.py``."""
    cfg = board_cfg(role, uart, ppr)
    package = folder / "firmware"
    package.mkdir(parents=True, exist_ok=True)
    for src in firmware_sources():
        shutil.copyfile(src, package / src.name)
    (folder / "board.cfg").write_text(cfg)
    (folder / "main.py").write_text(BOOT_MAIN)
    return folder


def mpremote_commands(port: str, folder: Path) -> list[list[str]]:
    """The mpremote runs, in order; each connects to `port` itself, so a failure names its step."""
    base = [sys.executable, "-m", "mpremote", "connect", port]
    return [
        base + ["cp", "-r", str(folder / "firmware"), ":"],
        base + ["cp", str(folder / "board.cfg"), ":board.cfg"],
        base + ["cp", str(folder / "main.py"), ":main.py"],
        base + ["reset"],
    ]


async def _hello(port: str, role: str, timeout_s: float) -> tuple[str, str]:
    """The board's id and firmware version from its HELLO; raises WrongBoard for another kind."""
    from edge.lanebus import BoardClient

    client = BoardClient(port, expected_kind=role, name=role)
    await client.start(timeout_s)
    try:
        info = client.info
        assert info is not None  # start() returns only after the HELLO
        return info.board_id, info.firmware_version
    finally:
        await client.close()


def check_hello(port: str, role: str, timeout_s: float = 30.0) -> tuple[bool, str]:
    """Wait (up to `timeout_s`: a reset Pico leaves USB and comes back) for the board's HELLO as a `role` running
    this installation's firmware. Returns (ok, what to tell the technician)."""
    from edge.lanebus import BoardOffline, WrongBoard

    expected = expected_firmware()
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            board_id, version = asyncio.run(_hello(port, role, min(5.0, max(0.5, deadline - time.monotonic()))))
        except WrongBoard as exc:
            return False, f"wrong board at {port}: {exc}"
        except (BoardOffline, OSError) as exc:
            last = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                return False, f"no HELLO from {port} within {timeout_s:g} s: {last}"
            time.sleep(0.5)  # the port comes back after the reset; a retry, not synchronisation
            continue
        if version != expected:
            return (
                False,
                f"{board_id} answers as {role} but runs firmware {version}; this installation ships {expected}",
            )
        return True, f"{board_id} answers as {role}, firmware {version}"


def flash(args: argparse.Namespace) -> int:
    keep = Path(args.stage) if args.stage else None
    folder = keep or Path(tempfile.mkdtemp(prefix="passlane-firmware-"))
    try:
        try:
            stage(folder, args.role, args.uart, args.ppr)
        except ValueError as exc:
            print(f"passlane firmware flash: {exc}", file=sys.stderr)
            return 2
        commands = mpremote_commands(args.port, folder)
        print(f"firmware {expected_firmware()}, role {args.role}: {len(firmware_sources())} files staged in {folder}")
        print(f"board.cfg: {(folder / 'board.cfg').read_text().strip()}")
        for cmd in commands:
            print("$ " + shlex.join(cmd))
        if args.dry_run:
            return 0
        for step, cmd in enumerate(commands, 1):
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=MPREMOTE_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                print(f"step {step} timed out after {MPREMOTE_TIMEOUT_S:g} s: {shlex.join(cmd[3:])}", file=sys.stderr)
                return 1
            if done.returncode != 0:
                said = (done.stderr or done.stdout).strip()
                print(f"step {step} failed ({shlex.join(cmd[3:])}): {said}", file=sys.stderr)
                print(
                    "fix: is it a Pico running MicroPython on that port (firmware/README.md, steps 1-3)? A board "
                    "already running PassLane firmware does not let mpremote in: erase it first (step 5)",
                    file=sys.stderr,
                )
                return 1
        return check(args)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def check(args: argparse.Namespace) -> int:
    ok, text = check_hello(args.port, args.role, args.timeout)
    print(("OK   " if ok else "FAIL ") + text)
    return 0 if ok else 1


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action")
    f = sub.add_parser(
        "flash",
        help="copy this installation's firmware onto a Pico running MicroPython, write its role, reset it, check its HELLO",
    )
    f.add_argument("--port", required=True, help="the Pico's serial port, e.g. /dev/ttyACM0")
    f.add_argument("--role", required=True, choices=ROLES, help="what the board is: written to its /board.cfg")
    f.add_argument("--uart", action="store_true", help="the lane bus on UART0 (GP0/GP1) instead of USB")
    f.add_argument("--ppr", type=float, help="vehicle board: the car's tach pulses per engine revolution")
    f.add_argument("--dry-run", action="store_true", help="stage the files and print the mpremote commands only")
    f.add_argument("--stage", help="stage into this folder and keep it (default: a temporary folder)")
    f.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the HELLO after the reset")
    f.set_defaults(func=flash)
    c = sub.add_parser("check", help="the board at PORT answers HELLO as ROLE with this installation's firmware")
    c.add_argument("--port", required=True, help="serial port or pyserial URL (socket://host:port for a simulator)")
    c.add_argument("--role", required=True, choices=ROLES, help="the kind of board expected at PORT")
    c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the HELLO")
    c.set_defaults(func=check)
