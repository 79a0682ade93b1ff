"""A site whose owner dies without stopping it does not outlive it: the guardian stops its processes.

Real processes throughout: an owner that is SIGKILLed, children in sessions of their own, the
guardian reading its pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from site_sim.guardian import Guardian, groups_left

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _gone(pid: int) -> bool:
    """No such process, or only its zombie left for init to reap."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def _own_session_sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(SLEEPER, start_new_session=True)


OWNER = """
import sys, time
from pathlib import Path
from site_sim.processes import ProcessGroup

group = ProcessGroup(Path(sys.argv[1]))
sleeper = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])
print(sleeper.pid, group.guardian.proc.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.timeout(60)
def test_the_processes_of_an_owner_killed_with_sigkill_are_stopped(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    sleeper_pid, guardian_pid = map(int, owner.stdout.readline().split())
    try:
        assert not _gone(sleeper_pid)
        owner.kill()
        owner.wait()
        assert _wait_gone(sleeper_pid, 15), "the site process outlived its owner"
        assert _wait_gone(guardian_pid, 5), "the guardian stays after doing its job"
    finally:
        for pid in (sleeper_pid, guardian_pid):
            if not _gone(pid):
                os.kill(pid, 9)


@pytest.mark.timeout(60)
def test_a_clean_stop_leaves_the_guardian_nothing_to_do_and_a_released_process_is_not_its_business() -> None:
    watched, released = _own_session_sleeper(), _own_session_sleeper()
    try:
        guardian = Guardian(grace_s=2.0)
        guardian.watch(watched.pid)
        guardian.watch(released.pid)
        guardian.release(released.pid)
        proc = guardian.proc
        assert proc is not None
        guardian.abandon()  # the owner's pipe ends without a goodbye
        assert proc.returncode == 0
        assert watched.wait(10) is not None, "a watched process is stopped"
        assert released.poll() is None, "a released process is left alone"

        clean = Guardian(grace_s=2.0)
        clean.watch(released.pid)
        clean.close()  # returns once the guardian has left
        assert released.poll() is None, "a clean stop touches nothing"
    finally:
        for p in (watched, released):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_the_guardian_follows_starts_and_stops_and_ignores_garbage() -> None:
    assert groups_left(["+10\n", "+11\n", "-10\n", "hello\n", "+x\n", "\n", "+12"]) == {11, 12}
    assert groups_left(["+10\n", "bye\n", "+11\n"]) is None
