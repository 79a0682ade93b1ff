"""The site's last stop: when whatever started a site dies without stopping it, the site's processes go too.

Each process of a site runs in a session (process group) of its own, so that a stop reaches its children;
that also means nothing ties it to the life of the demo or test that started it. A demo killed with
SIGKILL, or a test run cut off, left its broker, bridge, lanes and board simulators running, holding
ports and CPU. The guardian is a small process in a session of its own, reading a pipe from the site's
owner, one line each:

- ``+PID``: a process started, leading a process group of its own;
- ``-PID``: it has been stopped (its group is gone; the number may be reused);
- ``bye``: the site stopped cleanly; the guardian leaves.

The end of the pipe without ``bye`` means the owner died: every group still listed gets SIGTERM, and
what is left after the grace the owner gave (its own stop's, `site_sim.processes.STOP_GRACE_S`) gets SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

BYE = "bye"


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # not ours (the number was reused): leave it alone
        return False


def stop_groups(groups: Iterable[int], grace_s: float) -> None:
    """SIGTERM every group, wait up to `grace_s` for them to go, then SIGKILL the rest."""
    left = {g for g in groups if _signal_group(g, signal.SIGTERM)}
    deadline = time.monotonic() + grace_s
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {g for g in left if _signal_group(g, 0)}
    for g in left:
        _signal_group(g, signal.SIGKILL)


def groups_left(lines: Iterable[str]) -> set[int] | None:
    """Follow the owner's lines: the groups still listed when they end, or None after a goodbye."""
    groups: set[int] = set()
    for line in lines:
        word = line.strip()
        if word == BYE:
            return None
        if word[:1] in ("+", "-") and word[1:].isdigit():
            (groups.add if word[0] == "+" else groups.discard)(int(word[1:]))
    return groups


def main(argv: list[str]) -> int:
    """`python -m site_sim.guardian GRACE_S`, the owner's pipe on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the owner's to handle; its end shows here as EOF
    groups = groups_left(sys.stdin)
    if groups:
        stop_groups(groups, float(argv[0]))
    return 0


class Guardian:
    """The owner's end: starts the guardian process on the first `watch` and tells it what runs.

    Best effort: if the guardian cannot be started or has gone, the site runs on without it."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()  # processes start and stop from several threads

    def watch(self, pid: int) -> None:
        self._say(f"+{pid}", start=True)

    def release(self, pid: int) -> None:
        self._say(f"-{pid}")

    def close(self) -> None:
        """The site stopped cleanly: the guardian leaves without touching anything."""
        self._end(BYE)

    def abandon(self) -> None:
        """Close the pipe without a goodbye, as the owner's death would (tests)."""
        self._end(None)

    def _say(self, line: str, start: bool = False) -> None:
        with self._lock:
            if self.proc is None and start:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "site_sim.guardian", str(self.grace_s)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    text=True,
                    start_new_session=True,  # out of the terminal's process group: a Ctrl-C is not for it
                )
            if self.proc is None or self.proc.stdin is None:
                return
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

    def _end(self, last: str | None) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
        if proc is None or proc.stdin is None:
            return
        try:
            if last is not None:
                proc.stdin.write(last + "\n")
            proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        try:
            proc.wait(self.grace_s + 5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
