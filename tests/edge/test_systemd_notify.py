"""The units under systemd: READY, the watchdog and STOPPING on a real notify socket; the unit files pass systemd-analyze.

A real AF_UNIX datagram socket stands in for systemd's notify socket (it is what systemd binds);
`passlane exam run` runs as a process against a real broker, the real vehicle-board firmware on the
simulated car and a receiver's NMEA stream, as in tests/exam/test_exam_vehicle_end_to_end.py;
`passlane lane run` against a real broker and the real I/O board and plate issuer firmware on the
simulated world, as in tests/lane/test_lane_process.py; `passlane bridge serve` on SQLite.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lane_helpers import write_lane_toml

from edge.broker import MosquittoBroker, free_port
from edge.pki import SitePki
from edge.systemd_notify import SystemdNotifier, notify_address, watchdog_interval
from firmware.sim.server import SimBoardServer
from site_sim.exam_drive import NmeaServer
from site_sim.polling import wait_until
from site_sim.unit_configs import exam_vehicle_toml

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
DAEMONS = ["passlane-bridge.service", "passlane-exam-vehicle.service", "passlane-lane.service"]
"""The long-running units (the other, passlane-pki-renew.service, is a oneshot its timer starts daily)."""
UNIT, SITE = "car-01", "site-1"


class NotifySocket:
    """systemd's side: a bound datagram socket; every message received, with the time it came."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def with_line(self, line: str) -> list[float]:
        return [t for t, m in list(self.messages) if line in m.split("\n")]

    def close(self) -> None:
        self._closed = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[NotifySocket, str]]:
    path = str(tmp_path / "notify")
    receiver = NotifySocket(path)
    try:
        yield receiver, path
    finally:
        receiver.close()


def test_notify_socket_address_is_a_path_or_the_abstract_namespace() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@sd-notify/1"}) == "\0sd-notify/1"
    assert notify_address({}) is None
    assert notify_address({"NOTIFY_SOCKET": "relative/path"}) is None


def test_watchdog_is_fed_at_half_its_period_and_only_by_the_process_it_names() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, 42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval({}, 42) is None


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled and notifier.watchdog_s is None
    assert notifier.notify("READY=1") is False


def test_a_message_reaches_a_socket_in_the_abstract_namespace() -> None:
    name = f"passlane-test-{os.getpid()}-{time.monotonic_ns()}"
    receiver = NotifySocket("\0" + name)
    try:
        assert SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1", "STATUS=up")
        wait_until(lambda: receiver.messages, 5, "the message")
        assert receiver.messages[0][1] == "READY=1\nSTATUS=up"
    finally:
        receiver.close()


def test_a_blocked_event_loop_stops_feeding_the_watchdog(notify_socket: tuple[NotifySocket, str]) -> None:
    """The feeder is a task on the loop: while the loop is stuck in a blocking call, systemd hears nothing."""
    receiver, path = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    assert notifier.watchdog_s == 0.05
    marks: dict[str, float] = {}

    async def main() -> None:
        notifier.ready("test")
        await asyncio.sleep(0.5)
        marks["blocked"] = time.monotonic()
        time.sleep(1.5)  # the deliberate blocking call: the loop is stuck
        marks["released"] = time.monotonic()
        await asyncio.sleep(0.5)
        notifier.stopping()
        await asyncio.sleep(0.2)

    asyncio.run(main())
    wait_until(lambda: receiver.with_line("STOPPING=1"), 5, "STOPPING=1")
    pings = receiver.with_line("WATCHDOG=1")
    before = [t for t in pings if t < marks["blocked"]]
    during = [t for t in pings if marks["blocked"] + 0.01 < t < marks["released"]]
    after = [t for t in pings if t > marks["released"]]
    assert len(before) >= 5, "the loop fed the watchdog while it ran"
    assert during == [], "a stuck loop must not feed the watchdog"
    assert len(after) >= 3, "feeding resumes once the loop runs again"
    assert all(t < receiver.with_line("STOPPING=1")[0] for t in pings), "no ping after STOPPING=1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SitePki:
    p = SitePki(tmp_path_factory.mktemp("pki"))
    p.init(SITE, {"bridge": "bridge", "ops": "ops", UNIT: "exam-vehicle"})
    return p


@pytest.fixture
def car_site(tmp_path: Path, pki: SitePki) -> Iterator[dict[str, Any]]:
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    board = SimBoardServer("vehicle-board").start()
    nmea = NmeaServer()
    try:
        yield {"broker": broker, "board": board, "nmea": nmea, "pki": pki}
    finally:
        nmea.close()
        board.stop()
        broker.stop()


def _exam_config(tmp: Path, s: dict[str, Any], port: int) -> Path:
    path = tmp / "exam-vehicle.toml"
    path.write_text(exam_vehicle_toml(SITE, UNIT, s["broker"], s["pki"], s["nmea"].url, s["board"].url, port))
    return path


def _serve_under_notify_socket(
    args: list[str], cwd: Path, url: str, status: str, notify: tuple[NotifySocket, str]
) -> None:
    """Run `passlane ARGS` as systemd would (NOTIFY_SOCKET, WATCHDOG_USEC 0.4 s); READY once `url` answers, then pings."""
    receiver, path = notify
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        wait_until(lambda: receiver.with_line("READY=1") or proc.poll() is not None, 60, "READY=1")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        # READY came only once the unit serves: its page answers now, at the first try
        assert httpx.get(url, timeout=5).status_code == 200
        ready_at = receiver.with_line("READY=1")[0]
        assert any(f"STATUS={status}" in m for _, m in receiver.messages), receiver.messages
        wait_until(lambda: len([t for t in receiver.with_line("WATCHDOG=1") if t >= ready_at]) >= 3, 10, "3 pings")
        assert not [t for t in receiver.with_line("WATCHDOG=1") if t < ready_at], "no ping before READY"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    wait_until(lambda: receiver.with_line("STOPPING=1"), 5, "STOPPING=1")


@pytest.mark.broker
@pytest.mark.slow
def test_exam_unit_says_ready_once_its_page_answers_then_feeds_the_watchdog(
    tmp_path: Path, car_site: dict[str, Any], notify_socket: tuple[NotifySocket, str]
) -> None:
    port = free_port()
    config = _exam_config(tmp_path, car_site, port)
    _serve_under_notify_socket(
        ["exam", "run", "--config", str(config)],
        tmp_path,
        f"http://127.0.0.1:{port}/api/status",
        f"exam vehicle {UNIT}: page on port {port}",
        notify_socket,
    )


@pytest.mark.broker
@pytest.mark.slow
def test_lane_says_ready_once_its_tablet_answers_then_feeds_the_watchdog(
    tmp_path: Path, mqtt_broker: MosquittoBroker, site_pki: SitePki, notify_socket: tuple[NotifySocket, str]
) -> None:
    port = free_port()
    with SimBoardServer("io-board") as io, SimBoardServer("plate-issuer") as issuer:
        config = write_lane_toml(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url, ui_port=port)
        _serve_under_notify_socket(
            ["lane", "run", "--config", str(config), "--no-reader"],
            tmp_path,
            f"http://127.0.0.1:{port}/api/health",
            f"lane lane-01: tablet on port {port}",
            notify_socket,
        )


@pytest.mark.slow
def test_bridge_says_ready_once_its_http_server_answers_then_feeds_the_watchdog(
    tmp_path: Path, notify_socket: tuple[NotifySocket, str]
) -> None:
    port = free_port()
    args = ["bridge", "serve", "--db", str(tmp_path / "bridge.sqlite3"), "--http", f"127.0.0.1:{port}"]
    _serve_under_notify_socket(
        args + ["--workers", "0"],
        tmp_path,
        f"http://127.0.0.1:{port}/metrics",
        f"bridge: 127.0.0.1:{port}, 0 worker(s)",
        notify_socket,
    )


def _scratch_root(tmp: Path) -> Path:
    """A root for `systemd-analyze verify --root`: this machine's system units, ours, and the ExecStart binary."""
    root = tmp / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "etc/systemd/system").mkdir(parents=True)
    exe = root / "opt/passlane/current/bin/passlane"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def _verify(root: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *names], capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)
def test_unit_files_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    root = _scratch_root(tmp_path)
    names = sorted(p.name for p in UNITS.glob("*.service")) + ["passlane-pki-renew.timer"]
    assert names == [*DAEMONS, "passlane-pki-renew.service", "passlane-pki-renew.timer"]
    for name in names:
        shutil.copy(UNITS / name, root / "etc/systemd/system" / name)
    result = _verify(root, names)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr
    # the check sees a mistake: a misspelt key in a copy of the lane unit is reported
    broken = (UNITS / "passlane-lane.service").read_text().replace("WatchdogSec=", "WatchdogSecs=")
    (root / "etc/systemd/system/broken.service").write_text(broken)
    assert "Unknown key" in _verify(root, ["broken.service"]).stderr


def test_units_run_as_notify_services_with_a_watchdog_and_hardening() -> None:
    """What the unit files promise (docs/deploy.md): read as systemd reads them, key by key."""
    for unit in (UNITS / name for name in DAEMONS):
        keys: dict[str, list[str]] = {}
        for line in unit.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                keys.setdefault(key.strip(), []).append(value.strip())
        for key, value in {
            "Type": "notify",
            "NotifyAccess": "main",
            "Restart": "always",
            "ProtectSystem": "strict",
            "ReadWritePaths": "/var/lib/passlane",
            "NoNewPrivileges": "yes",
            "PrivateTmp": "yes",
            "User": "passlane",
        }.items():
            assert keys.get(key) == [value], f"{unit.name}: {key}"
        assert int(keys["WatchdogSec"][0]) > 0, unit.name
        assert "/etc/passlane/" in keys["ExecStart"][0], unit.name
    groups = {
        u.name: (u.read_text().split("SupplementaryGroups=")[1:] or [""])[0].split("\n")[0]
        for u in UNITS.glob("*.service")
    }
    assert groups["passlane-lane.service"].split() == ["dialout", "video"]
    assert "dialout" in groups["passlane-exam-vehicle.service"].split()
