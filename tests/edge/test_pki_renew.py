"""Certificates are renewed before they expire (`passlane pki renew`, daily from passlane-pki-renew.timer): server
certificates near their end get a new key for the same names; the CA is signed again with its own key, so a unit
still holding the old ca.crt keeps trusting the broker (a real Mosquitto, a real TLS handshake); installed copies are
replaced keeping their owner and mode, and the restart command runs only when something was renewed."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from edge.broker import MosquittoBroker
from edge.pki import SitePki

REPO = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(cert: x509.Certificate) -> list[str]:
    return [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


@pytest.fixture
def pki(tmp_path: Path) -> SitePki:
    site = SitePki(tmp_path / "site")
    site.init("site-1", {"bridge": "bridge", "lane-01": "lane"}, extra_hosts=["broker.site-1.local"])
    site.issue_http_cert(["ops.site-1.local"])
    return site


def test_server_certificates_near_their_end_get_new_keys_for_the_same_names(pki: SitePki) -> None:
    broker_before, http_before = _cert(pki.broker_cert), _cert(pki.http_cert()[0])
    ca_before = pki.ca_cert.read_bytes()
    assert pki.renew(now=NOW) == [], "825 and 397 days left: nothing to do"

    later = NOW + dt.timedelta(days=800)  # the broker's has 25 days left, the HTTPS one ended long ago
    renewed = {r.path.name: r for r in pki.renew(now=later)}
    assert sorted(renewed) == ["bridge-http.crt", "broker.crt"]
    assert pki.ca_cert.read_bytes() == ca_before, "the CA has years left"
    ca = _cert(pki.ca_cert)
    for path, before in ((pki.broker_cert, broker_before), (pki.http_cert()[0], http_before)):
        after = _cert(path)
        assert _names(after) == _names(before) and after.subject == before.subject
        assert after.public_key() != before.public_key(), "a new key"
        after.verify_directly_issued_by(ca)
        assert after.not_valid_after_utc - later > dt.timedelta(days=390)
        assert stat.S_IMODE(path.with_suffix(".key").stat().st_mode) == 0o600
    assert "broker.site-1.local" in _names(_cert(pki.broker_cert))


def _handshake(host: str, port: int, ca_file: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version() or ""


@pytest.mark.broker
def test_a_ca_signed_again_keeps_its_key_so_a_unit_with_the_old_ca_crt_still_trusts_the_broker(
    pki: SitePki, tmp_path: Path
) -> None:
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_bytes(pki.ca_cert.read_bytes())
    renewed = pki.renew(within_days=10**6, ca_within_days=10**6)  # everything, now
    assert {r.path.name for r in renewed} == {"ca.crt", "broker.crt", "bridge-http.crt"}
    new, old = _cert(pki.ca_cert), _cert(old_ca)
    assert (
        new.public_key() == old.public_key() and new.subject == old.subject and new.serial_number != old.serial_number
    )
    assert new.not_valid_after_utc >= old.not_valid_after_utc  # ten years from now again
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    try:
        assert _handshake(broker.host, broker.port, old_ca).startswith("TLS"), "a unit not yet given the new ca.crt"
        assert _handshake(broker.host, broker.port, pki.ca_cert).startswith("TLS")
    finally:
        broker.stop()


def test_renew_replaces_installed_copies_keeping_owner_and_mode_and_restarts_only_when_it_renewed(
    pki: SitePki, tmp_path: Path
) -> None:
    installed = tmp_path / "etc-mosquitto"
    installed.mkdir()
    for name, mode in (("broker.crt", 0o644), ("broker.key", 0o600), ("ca.crt", 0o644)):
        copy = installed / name
        copy.write_bytes((pki.root / name).read_bytes())
        copy.chmod(mode)
    old_key = (installed / "broker.key").read_bytes()
    marker = tmp_path / "restarted"

    def renew(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", "pki", "renew", str(pki.root), "--copy-to", str(installed),
             "--then", f"touch {marker}", *extra],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )  # fmt: skip

    quiet = renew()
    assert quiet.returncode == 0 and "nothing to renew" in quiet.stdout and not marker.exists()
    done = renew("--within-days", "100000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "renewed broker.crt" in done.stdout and marker.exists()
    assert (installed / "broker.key").read_bytes() == pki.broker_key.read_bytes() != old_key
    assert (installed / "broker.crt").read_bytes() == pki.broker_cert.read_bytes()
    assert stat.S_IMODE((installed / "broker.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((installed / "broker.crt").stat().st_mode) == 0o644
    assert not (installed / "bridge-http.crt").exists(), "only the copies that were installed there"
