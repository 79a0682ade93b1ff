"""`passlane gnss read` as a user runs it: a shared log file, a live `socket://` source served by a TCP server in the
test, and sources that cannot be opened."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from gnss_helpers import ROOT, dataset, log_bytes

KEYS = ["time", "lat", "lon", "alt", "quality", "sats", "hdop", "speed_mps", "course_deg"]


def passlane(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def test_read_json_prints_one_object_per_epoch_with_exactly_the_documented_fields():
    r = passlane("gnss", "read", str(dataset() / "ublox-zed-f9r.log"), "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == 30
    assert all(list(obj) == KEYS for obj in lines)  # no heading_deg: this receiver gives none
    assert lines[1] == {
        "time": "2025-04-11T23:14:09.000Z",
        "lat": 45.0657719,
        "lon": 7.6590617,
        "alt": 257.384,
        "quality": "rtk_float",
        "sats": 26,
        "hdop": 0.87,
        "speed_mps": 0.008,
        "course_deg": 190.0427,
    }
    assert "NAV-PVT 30" in r.stderr and "RTCM3 frames 224" in r.stderr
    assert "bad checksums 0, truncated 0, garbage bytes 0" in r.stderr


def test_read_json_adds_heading_only_when_the_receiver_gives_one():
    r = passlane("gnss", "read", str(dataset() / "skytraq-PX1172RH_DS.log"), "--json")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout.splitlines()[0])
    assert list(first) == [*KEYS, "heading_deg"] and first["heading_deg"] == 244.28
    assert "garbage bytes 670" in r.stderr  # gpsd's own JSON lines inside the log


def test_read_without_json_prints_a_table_and_is_the_same_on_every_run():
    path = str(dataset() / "haicom-305N.log")
    first, again = passlane("gnss", "read", path), passlane("gnss", "read", path)
    assert first.returncode == 0 and first.stdout == again.stdout
    header, *rows = first.stdout.splitlines()
    assert header.split()[:3] == ["time", "quality", "lat"] and len(rows) == 74
    assert rows[-1].split()[:4] == ["2007-04-08T09:54:15.787Z", "gps", "-27.210673333", "153.052000000"]


@pytest.mark.parametrize("source", ["/nonexistent/receiver.log", "socket://127.0.0.1:9"])
def test_a_source_that_cannot_be_opened_is_a_clear_error_with_exit_status_2(source):
    r = passlane("gnss", "read", source, "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"passlane gnss read: cannot open {source}")


@pytest.fixture
def receiver_server() -> Iterator[tuple[str, threading.Event]]:
    """A TCP server that plays a receiver: once told to start, the f9r log's bytes (without its leading comment
    lines) in small pieces, then it hangs up. (pyserial's open discards what arrived before it: a receiver streams
    all the time, so that is right for a port, and the test starts the stream once the reader says it is open.)"""
    data = log_bytes("ublox-zed-f9r.log")
    while data.startswith(b"#"):
        data = data[data.index(b"\n") + 1 :]
    server = socket.create_server(("127.0.0.1", 0))
    go = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            if go.wait(30):
                for i in range(0, len(data), 1000):
                    conn.sendall(data[i : i + 1000])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{server.getsockname()[1]}", go
    finally:
        go.set()
        server.close()
        thread.join(10)


def test_a_socket_source_gives_the_same_epochs_as_the_log_and_ends_when_the_peer_hangs_up(receiver_server):
    url, go = receiver_server
    cli = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "gnss", "read", url, "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert cli.stderr is not None
    assert cli.stderr.readline().startswith(f"reading {url}")  # open: the receiver may start talking
    go.set()
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    logged = passlane("gnss", "read", str(dataset() / "ublox-zed-f9r.log"), "--json")
    assert out == logged.stdout and len(out.splitlines()) == 30
    assert "comment lines 0" in err and "garbage bytes 0" in err


def test_bench_gnss_prints_its_table_for_every_shared_log():
    r = passlane("bench", "gnss", "--seconds", "0.01", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "machine:" in r.stdout and "all logs" in r.stdout
    assert all(name in r.stdout for name in (p.name for p in dataset().glob("*.log")))
    assert "pyubx2 counted" not in r.stdout  # when the peer is there, it read the same sentences and messages
