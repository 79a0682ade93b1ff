"""Every long-running `passlane` process stops cleanly on SIGTERM within seconds, as systemd expects.

systemd (and `passlane demo` itself, for its children) sends SIGTERM to the main
process only. Each test starts the real process, waits until it is ready (a
condition with a deadline), sends SIGTERM to that one process and checks: it
exits within a few seconds with status 0, none of its descendants is left
running, and, where it talks MQTT, it said goodbye (a DISCONNECT the broker
logged, not a dropped connection).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from lane_helpers import write_lane_toml

from edge.broker import MosquittoBroker, free_port
from edge.pki import SitePki
from site_sim import polling
from site_sim.processes import http_probe, tcp_probe

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.broker


@dataclass
class Stopped:
    """How a process ended after SIGTERM: its exit status, how long it took, and the descendants it had."""

    rc: int
    took_s: float
    family: list[psutil.Process]
    commands: list[str]

    def had(self, word: str) -> bool:
        return any(word in c for c in self.commands)


class Child:
    """A `passlane ...` subprocess with its output collected line by line (for readiness and for failures)."""

    def __init__(self, *args: str, cwd: Path = REPO) -> None:
        self.lines: list[str] = []
        self.seen: list[
            psutil.Process
        ] = []  # descendants at SIGTERM: once the parent is gone they are no longer its children
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        def check() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode} before {what}:\n{self.output[-3000:]}")
            return ready()

        polling.wait_until(check, timeout, what, interval=0.05)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def sigterm(self, within_s: float) -> Stopped:
        """SIGTERM this process only and wait for it to exit (at most `within_s`)."""
        family = self.descendants()
        self.seen = family
        commands = command_lines(family)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(within_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {within_s:.0f}s after SIGTERM:\n{self.output[-3000:]}") from None
        self._reader.join(5)
        return Stopped(rc, time.monotonic() - started, family, commands)

    def kill(self) -> None:
        """Clean-up after a failed test: the process and everything it started, orphans included."""
        for p in self.descendants() + self.seen:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def command_lines(procs: list[psutil.Process]) -> list[str]:
    """The command lines of those still there (a child that has just exited is a zombie without one)."""
    lines = []
    for p in procs:
        try:
            lines.append(" ".join(p.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return lines


def still_running(procs: list[psutil.Process]) -> list[str]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(p.cmdline())[:160])
        except psutil.NoSuchProcess:
            pass
    return left


def said_goodbye(broker_log: Path, username: str) -> bool:
    """Every MQTT client of `username` ended with a DISCONNECT ("Client <id> disconnected."), none was dropped."""
    log = broker_log.read_text(errors="replace")
    ids = set(re.findall(rf"New client connected from \S+ as (\S+) \(.*u'{re.escape(username)}'\)", log))
    return bool(ids) and all(f"Client {cid} disconnected." in log for cid in ids)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def _board(children: list[Child], kind: str, tmp_path: Path) -> tuple[Child, int, int]:
    port, control = free_port(), free_port()
    child = Child(
        "sim",
        kind,
        "--listen",
        f"127.0.0.1:{port}",
        "--control",
        f"127.0.0.1:{control}",
        "--time-scale",
        "60",
        "--world-log",
        str(tmp_path / f"world-{kind}.jsonl"),
        "--journal",
        str(tmp_path / f"{kind}-flash.json"),
    )
    children.append(child)
    child.wait_ready(tcp_probe("127.0.0.1", control), 30, f"sim {kind} control port")
    return child, port, control


@pytest.mark.parametrize("kind", ["io-board", "plate-issuer"])
def test_a_simulated_board_stops_on_sigterm(children: list[Child], tmp_path: Path, kind: str) -> None:
    board, _, _ = _board(children, kind, tmp_path)
    stopped = board.sigterm(within_s=5)
    assert stopped.rc == 0, board.output
    assert still_running(stopped.family) == []


def test_the_bridge_stops_on_sigterm_despite_a_half_sent_request_and_says_goodbye_to_the_broker(
    children: list[Child], tmp_path: Path, mqtt_broker: MosquittoBroker, site_pki: SitePki
) -> None:
    port = free_port()
    bridge = Child(
        "bridge",
        "serve",
        "--db",
        str(tmp_path / "bridge.sqlite3"),
        "--mqtt-host",
        mqtt_broker.host,
        "--mqtt-port",
        str(mqtt_broker.port),
        "--site-dir",
        str(site_pki.root),
        "--http",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    )
    children.append(bridge)
    bridge.wait_ready(http_probe(f"http://127.0.0.1:{port}/login"), 60, "bridge answering /login")
    polling.wait_until(lambda: mqtt_broker.log_file.read_text().count("u'bridge'") >= 2, 10, "both workers connected")
    # A client that sent a sign-in's headers but not its body: the stop must not wait for it.
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(
            b"POST /login HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\nusername=ops"
        )
        stopped = bridge.sigterm(within_s=10)
    assert stopped.rc == 0, bridge.output
    assert still_running(stopped.family) == []
    polling.wait_until(
        lambda: said_goodbye(mqtt_broker.log_file, "bridge"), 5, "the broker logging each worker's DISCONNECT"
    )


def test_the_lane_controller_stops_on_sigterm_despite_a_half_sent_request_with_its_journal_closed(
    children: list[Child], tmp_path: Path, mqtt_broker: MosquittoBroker, site_pki: SitePki
) -> None:
    _, io_port, _ = _board(children, "io-board", tmp_path)
    _, issuer_port, _ = _board(children, "plate-issuer", tmp_path)
    config = write_lane_toml(
        tmp_path,
        mqtt_broker,
        site_pki,
        io_url=f"socket://127.0.0.1:{io_port}",
        issuer_url=f"socket://127.0.0.1:{issuer_port}",
    )
    ui = free_port()
    lane = Child("lane", "run", "--config", str(config), "--no-reader", "--port", str(ui))
    children.append(lane)
    lane.wait_ready(http_probe(f"http://127.0.0.1:{ui}/api/health"), 60, "tablet answering /api/health")
    polling.wait_until(lambda: "u'lane-01'" in mqtt_broker.log_file.read_text(), 10, "lane connected to the broker")
    # A tablet that sent a sign-in's headers but not its body: the stop must not wait for it.
    with socket.create_connection(("127.0.0.1", ui)) as slow:
        slow.sendall(
            b"POST /api/session HTTP/1.1\r\nHost: lane\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        stopped = lane.sigterm(within_s=10)
    assert stopped.rc == 0, lane.output
    assert still_running(stopped.family) == []
    polling.wait_until(
        lambda: said_goodbye(mqtt_broker.log_file, "lane-01"), 5, "the broker logging the lane's DISCONNECT"
    )
    journal = tmp_path / "var" / "lane.sqlite"
    assert not Path(f"{journal}-wal").exists(), "the journal was not closed (its write-ahead log is still there)"
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _demo(children: list[Child], root: Path, *extra: str) -> Child:
    demo = Child("demo", "--lanes", "1", "--speed", "600", "--no-browser", "--dir", str(root), *extra)
    children.append(demo)
    return demo


def _site_processes(root: Path) -> list[str]:
    """Anything still running whose command line names the demo's site directory."""
    left = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(p.info.get("cmdline") or [])
        if f"{root}/" in cmdline and p.info.get("status") != psutil.STATUS_ZOMBIE:
            left.append(cmdline[:160])
    return left


def test_the_demo_stops_on_sigterm_while_the_site_is_starting(children: list[Child], tmp_path: Path) -> None:
    root = tmp_path / "site"
    demo = _demo(children, root, "--vehicles", "2")

    def bridge_starting() -> bool:
        return any("bridge serve" in c for c in command_lines(demo.descendants()))

    demo.wait_ready(bridge_starting, 90, "the broker up and the bridge starting")
    stopped = demo.sigterm(within_s=20)
    assert stopped.rc == 0, demo.output
    assert stopped.had("mosquitto") and stopped.had("bridge serve")
    assert still_running(stopped.family) == [] and _site_processes(root) == [], demo.output
    assert "site stopped" in demo.output


def test_the_demo_stops_on_sigterm_while_vehicles_drive(children: list[Child], tmp_path: Path) -> None:
    root = tmp_path / "site"
    demo = _demo(children, root, "--vehicles", "50")
    demo.wait_ready(lambda: "vehicles in " in demo.output, 120, "vehicles arriving")
    stopped = demo.sigterm(within_s=25)
    assert stopped.rc == 0, demo.output
    assert all(stopped.had(k) for k in ("mosquitto", "bridge serve", "lane run", "sim io-board", "sim plate-issuer")), (
        stopped.commands
    )
    assert still_running(stopped.family) == [] and _site_processes(root) == [], demo.output
    assert "SIGTERM: stopped on request" in demo.output and "site stopped" in demo.output
    broker_log = root / "broker" / "mosquitto.log"
    assert said_goodbye(broker_log, "lane-01") and said_goodbye(broker_log, "bridge"), broker_log.read_text()[-3000:]
