"""The bridge serves HTTPS itself with a certificate from the site CA (`passlane pki http-cert`, `[http.tls]`)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cloud_bridge.config import ConfigError, load_settings
from edge.broker import free_port
from edge.pki import SitePki
from site_sim import polling

ROOT = Path(__file__).resolve().parents[2]
HOST = "bridge.site-1.example"


def _passlane(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def site(tmp_path: Path) -> SitePki:
    pki = SitePki(tmp_path / "site")
    pki.init("site-1", {"bridge": "bridge"})
    return pki


@pytest.fixture
def https_bridge(tmp_path: Path, site: SitePki) -> Iterator[tuple[int, SitePki]]:
    """`passlane bridge serve` over HTTPS on a free port (HTTP only: no ingest workers, so no broker)."""
    assert _passlane("pki", "http-cert", str(site.root), "--host", HOST).returncode == 0
    cert, key = site.http_cert()
    port = free_port()
    with open(tmp_path / "bridge.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "bridge",
                "serve",
                "--db",
                str(tmp_path / "bridge.sqlite3"),
                "--http",
                f"127.0.0.1:{port}",
                "--workers",
                "0",
                "--tls-cert",
                str(cert),
                "--tls-key",
                str(key),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    trust = ssl.create_default_context(cafile=str(site.ca_cert))

    def answers() -> bool:
        assert proc.poll() is None, (tmp_path / "bridge.log").read_text()
        try:
            return httpx.get(f"https://127.0.0.1:{port}/login", verify=trust, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        polling.wait_until(answers, 60, "the bridge answering https /login", interval=0.1)
        yield port, site
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_http_certificate_comes_from_the_site_ca_with_the_given_names_and_a_private_key(site: SitePki) -> None:
    cert = site.issue_http_cert([HOST, "10.1.2.3"])
    ca = x509.load_pem_x509_certificate(site.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)  # the CA that also signs the broker's certificate
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert HOST in names.get_values_for_type(x509.DNSName)
    assert "10.1.2.3" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert (site.http_cert()[1].stat().st_mode & 0o777) == 0o600


def test_the_bridge_serves_https_that_the_site_ca_trusts_and_refuses_plain_http(
    https_bridge: tuple[int, SitePki],
) -> None:
    port, site = https_bridge
    trust = ssl.create_default_context(cafile=str(site.ca_cert))
    login = httpx.get(f"https://localhost:{port}/login", verify=trust, timeout=10)
    assert login.status_code == 200 and "<form" in login.text
    cookies = login.headers.get_list("set-cookie")
    assert cookies and all("secure" in c.lower() for c in cookies), cookies  # served over TLS: every cookie is Secure
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)  # plain HTTP on the HTTPS port gets no page
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{port}/login", timeout=10)  # without the site CA the certificate is not trusted


def test_serve_refuses_a_private_key_others_may_read(tmp_path: Path, site: SitePki) -> None:
    site.issue_http_cert([HOST])
    cert, key = site.http_cert()
    os.chmod(key, 0o644)
    result = _passlane(
        "bridge",
        "serve",
        "--db",
        str(tmp_path / "b.sqlite3"),
        "--http",
        f"127.0.0.1:{free_port()}",
        "--workers",
        "0",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "http.tls.key_file" in result.stderr and f"chmod 600 {key}" in result.stderr
    assert not (tmp_path / "b.sqlite3").exists()  # refused before anything started


def test_tls_settings_need_both_files_and_turn_on_secure_cookies_and_https_links() -> None:
    with pytest.raises(ConfigError, match=r"http\.tls"):
        load_settings(None, {"http.tls.cert_file": "bridge.crt"})
    settings = load_settings(
        None, {"http.listen": "10.0.0.5:8443", "http.tls.cert_file": "b.crt", "http.tls.key_file": "b.key"}
    )
    assert settings.http.secure_cookies is True
    assert settings.http.public_url == "https://10.0.0.5:8443"
    assert load_settings(None, {}).http.secure_cookies is False
