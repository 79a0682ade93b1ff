"""Starting, watching and stopping the real processes of a simulated site.

Each process runs in its own session (process group) with its output in a log
file, so a stop reaches its children too and nothing is left running. A
process is "ready" when a probe says so (a TCP port accepts, an HTTP page
answers), never after a fixed sleep.

Stopping is bounded, as a service manager expects: every process of a group is
sent SIGTERM at once, given a few seconds to finish (journal committed, MQTT
goodbye), and whatever is still there is killed. Once a group is stopping it
starts nothing more and a start waiting for readiness gives up at once. If
whatever started the group dies without stopping it, the group's guardian
(`site_sim.guardian`) stops its processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from site_sim.guardian import Guardian

Probe = Callable[[], bool]
STOP_GRACE_S = 8.0  # time a process gets between SIGTERM and SIGKILL


class ProcessFailed(RuntimeError):
    """A managed process exited or never became ready."""


def tcp_probe(host: str, port: int) -> Probe:
    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return probe


def http_probe(url: str) -> Probe:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - loopback only
                return 200 <= resp.status < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except (OSError, urllib.error.URLError):
            return False

    return probe


class ManagedProcess:
    """One child process with a log file and a readiness probe."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        *,
        ready: Probe | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        cancel: threading.Event | None = None,
        guardian: Guardian | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self.ready = ready
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.cancel = cancel or threading.Event()  # set: stop waiting for readiness (the site is stopping)
        self.guardian = guardian  # told of each start and stop, so that the owner's death stops the process

    def start(self, timeout: float = 30.0) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
                start_new_session=True,
            )
        if self.guardian is not None:
            self.guardian.watch(self.proc.pid)
        self.starts += 1
        if self.ready is not None:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        assert self.ready is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ProcessFailed(
                    f"{self.name} exited with {self.returncode} before it was ready:\n{self.tail_log()}"
                )
            if self.ready():
                return
            if self.cancel.wait(0.05):
                raise ProcessFailed(f"{self.name}: the site is stopping")
        raise ProcessFailed(f"{self.name} not ready within {timeout:.0f}s:\n{self.tail_log()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        """Ask the process (and its group) to stop: SIGTERM, without waiting."""
        if self.running:
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, then SIGKILL what is still there after the timeout."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
        self._signal_group(signal.SIGKILL)  # any grandchild left behind
        self._gone()

    def _gone(self) -> None:
        if self.guardian is not None and self.proc is not None:
            self.guardian.release(self.proc.pid)
        self.proc = None

    def kill(self) -> None:
        """kill -9, as a crash or a power cut would."""
        if self.proc is not None:
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
            self._gone()


class ProcessGroup:
    """The processes of one site, stopped in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, ManagedProcess] = {}
        self.stopping = threading.Event()  # set from any thread (a signal handler too): start nothing more
        self.guardian = Guardian(STOP_GRACE_S)  # the owner's death stops what is still running

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: Probe | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> ManagedProcess:
        if self.stopping.is_set():
            raise ProcessFailed(f"{name} not started: the site is stopping")
        proc = ManagedProcess(
            name, argv, self.log_dir, ready=ready, env=env, cancel=self.stopping, guardian=self.guardian
        )
        self.processes[name] = proc
        return proc.start(timeout)

    def __getitem__(self, name: str) -> ManagedProcess:
        return self.processes[name]

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes.values() if p.proc is not None and not p.running]

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every process at once, wait up to `grace_s` for all of them, then kill the rest."""
        self.stopping.set()
        procs = list(reversed(list(self.processes.values())))
        for proc in procs:
            proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in procs:
            proc.stop(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
        self.guardian.close()
