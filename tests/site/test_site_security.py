"""Security of a running site, from the outside: the tablet, the bridge API, payments and the audit log.

(The broker's side — anonymous, wrong-password and plain-TCP clients refused, a lane unable to
publish as another lane or read its commands — is pinned by tests/edge/test_broker_security.py
against the same broker configuration the site uses.)
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloud_bridge.payments import HEADER, callback_body, sign
from site_sim.site import INSPECTOR_PIN, Site

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _passlane(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with Site(tmp_path_factory.mktemp("secure-site"), lanes=1, speed=600, reference_vehicles=40) as running:
        yield running


def test_tablet_refuses_anonymous_callers_and_a_wrong_pin(site: Site) -> None:
    parts = site.lane_parts[0]
    with httpx.Client(base_url=parts.tablet_url, timeout=10) as http:
        assert http.get("/api/lane").status_code == 401
        assert http.post("/api/cases", json={"station": "A", "id_number": "x"}).status_code == 401
        wrong = http.post("/api/session", json={"inspector_id": parts.inspector_id, "pin": "0000"})
        assert wrong.status_code == 401
        right = http.post("/api/session", json={"inspector_id": parts.inspector_id, "pin": INSPECTOR_PIN})
        assert right.status_code == 200
        assert http.get("/api/lane").status_code == 200


def test_bridge_api_refuses_missing_and_wrong_role_users(site: Site, tmp_path: Path) -> None:
    db = str(site.bridge_db)
    key = (
        "--audit-key-file",
        str(site.audit_key_file),
    )  # the site's audit log is signed: commands that write it need the key
    (tmp_path / "pw").write_text("viewer-password-123\n")
    refused = _passlane(
        "bridge", "user", "add", "viewer", "--role", "ops-viewer", "--db", db, "--password-file", str(tmp_path / "pw")
    )
    assert refused.returncode == 2 and "audit log is signed" in refused.stderr, "without the key nothing is written"
    assert (
        _passlane(
            "bridge",
            "user",
            "add",
            "viewer",
            "--role",
            "ops-viewer",
            "--db",
            db,
            "--password-file",
            str(tmp_path / "pw"),
            *key,
        ).returncode
        == 0
    )
    viewer = _passlane("bridge", "user", "token", "viewer", "--db", db, *key).stdout.strip().splitlines()[-1]
    admin = _passlane("bridge", "user", "token", "ops", "--db", db, *key).stdout.strip().splitlines()[-1]
    command = {"command": "open_barrier", "args": {"barrier": "exit"}, "reason": "security test", "ttl_s": 30}
    with httpx.Client(base_url=site.dashboard_url, timeout=10) as http:
        assert http.get("/api/stats").status_code == 401
        assert http.get("/api/stats", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
        assert http.get("/api/stats", headers={"Authorization": f"Bearer {viewer}"}).status_code == 200
        denied = http.post(
            "/api/units/site-1/lane-01/commands", json=command, headers={"Authorization": f"Bearer {viewer}"}
        )
        assert denied.status_code == 403
        allowed = http.post(
            "/api/units/site-1/lane-01/commands", json=command, headers={"Authorization": f"Bearer {admin}"}
        )
        assert allowed.status_code == 200, allowed.text
        assert http.get("/", follow_redirects=False).status_code in (302, 303, 401)


def test_payment_callback_with_a_bad_signature_or_replayed_changes_nothing(site: Site) -> None:
    key = site.payment_key_file.read_text().strip().encode()
    body = callback_body("pay_does_not_exist", 11000)
    with httpx.Client(base_url=site.dashboard_url, timeout=10) as http:
        forged = http.post("/api/payments/notify", content=body, headers={HEADER: sign(b"wrong key", body)})
        assert forged.status_code in (400, 401, 403)
        header = sign(key, body)
        first = http.post("/api/payments/notify", content=body, headers={HEADER: header})
        assert first.status_code == 404  # well signed, but no such payment: nothing is marked paid
        replay = http.post("/api/payments/notify", content=body, headers={HEADER: header})
        assert replay.status_code == 409  # the nonce was used: a replay is refused before anything else


def test_an_edited_audit_entry_is_detected(site: Site) -> None:
    assert _passlane("bridge", "audit", "verify", "--db", str(site.bridge_db)).returncode == 0
    with sqlite3.connect(site.bridge_db) as db:
        db.execute("UPDATE audit SET actor = 'mallory' WHERE id = (SELECT MIN(id) FROM audit)")
    result = _passlane("bridge", "audit", "verify", "--db", str(site.bridge_db))
    assert result.returncode == 1, result.stdout + result.stderr
