"""`passlane bridge ...` as the site demo uses it: init-db, gen/load reference, user add, serve with HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from bridge_helpers import wait_for

from cloud_bridge.store.migrations import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "bridge", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_reference_data_users_and_database_from_the_command_line(tmp_path: Path) -> None:
    db = str(tmp_path / "b.sqlite3")
    assert f"schema version {MIGRATIONS[-1][0]}" in _cli("init-db", "--db", db).stdout
    gen = _cli("gen-reference", str(tmp_path / "ref.csv"), "--vehicles", "60", "--seed", "3")
    assert gen.returncode == 0 and "60 vehicles" in gen.stdout and "insurance_missing" in gen.stdout
    load = _cli("load-reference", str(tmp_path / "ref.csv"), "--db", db)
    assert load.returncode == 0 and "60 vehicles" in load.stdout
    assert (
        _cli(
            "user", "add", "olga", "--role", "ops-viewer", "--db", db, env={"PASSLANE_USER_PASSWORD": "a long password"}
        ).returncode
        == 0
    )
    assert "olga\tops-viewer" in _cli("user", "list", "--db", db).stdout
    stats = json.loads(_cli("stats", "--db", db).stdout)
    assert stats["events_stored"] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nlisten = 1\nlisten_port = 2\n")
    out = _cli("init-db", "--config", str(bad))
    assert out.returncode == 2 and "http.listen_port" in out.stderr


@pytest.mark.broker
def test_serve_runs_workers_and_http_until_terminated(tmp_path: Path, mqtt_broker, site_pki) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = str(tmp_path / "b.sqlite3")
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "bridge",
            "serve",
            "--db",
            db,
            "--mqtt-host",
            mqtt_broker.host,
            "--mqtt-port",
            str(mqtt_broker.port),
            "--site-dir",
            str(site_pki.root),
            "--http",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["ok"]
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, "bridge HTTP up")
        wait_for(lambda: "subscribed" in (tmp_path / "serve.log").read_text(errors="replace"), 20, "worker subscribed")
        assert "passlane_bridge_events_stored" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert httpx.get(f"http://127.0.0.1:{port}/api/stats").status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
        log.close()
