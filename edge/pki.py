"""A site's trust material: the site CA, the broker's server certificate and per-unit accounts.

One site directory holds everything a private Mosquitto and its clients need:

    ca.crt  ca.key           the site CA (EC P-256, 10 years)
    broker.crt broker.key    the broker's certificate (localhost, 127.0.0.1, ::1, extra names)
    bridge-http.crt/.key     optional: the bridge's HTTPS certificate (`passlane pki http-cert`)
    units.json               unit id -> role ("lane", "exam-vehicle", "bridge", "ops")
    secrets/<unit>.password  each unit's MQTT password (mode 0600), never in a config file
    mosquitto-dynsec.json    the broker's accounts (PBKDF2-SHA512 hashes) and per-unit
                             topic rights derived from edge.contract, for Mosquitto's
                             dynamic-security plugin (mode 0600)

Why the dynamic-security plugin and not `password_file` + `acl_file`: Mosquitto
2.0's `acl_file` never checks a SUBSCRIBE (it grants every filter and checks
only each delivery against the reader's `read` rights). A lane could therefore
join the bridge's shared subscription `$share/bridge/...`: the broker hands it
its turn of every unit's messages, refuses the delivery (no read right) and
drops them, so the bridge never sees them. The plugin checks SUBSCRIBE against
the whole filter, `$share/<group>/` included, so only the bridge account may
subscribe through `$share/` at all (tests/edge_runtime/test_broker_shared_subscriptions.py).
The plugin reads its file when the broker starts (Mosquitto 2.0.11 does not reload
it on SIGHUP): units added by re-running `init` can connect after a broker restart.

Creating a site is idempotent: existing keys and passwords are kept, new units
are added, so re-running `passlane pki init` never locks a running lane out.

Renewal (`SitePki.renew`, `passlane pki renew`, daily by
`deploy/systemd/passlane-pki-renew.timer`): a server certificate (the
broker's, the bridge's HTTPS) that expires within 30 days gets a new key and
certificate for the same names; the CA, within a year of its end, is signed
again with the *same* key and name, so every certificate it signed stays
valid and a unit holding the old `ca.crt` still trusts the broker until the
old end (copy the new one to every unit before then: `passlane doctor` warns
30 days ahead).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict

from edge.contract import EXAM_VEHICLE_ONLY, TOPIC_ROOT, UNIT_ID_RE, UNIT_PUBLISHES, UNIT_SUBSCRIBES, topic

ROLES = ("lane", "exam-vehicle", "bridge", "ops")
_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd itself writes for $7$


class SiteUnits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str
    units: dict[str, str]  # unit id -> role


def mosquitto_password_hash(password: str, salt: bytes | None = None) -> str:
    """Hash a password the way `mosquitto_passwd` does (format ``$7$iterations$salt$hash``)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS, 64)
    return f"$7${_PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


# Dynamic-security ACL types: what a client may send, receive, and subscribe to.
SEND, RECEIVE = "publishClientSend", "publishClientReceive"
SUBSCRIBE_EXACT, SUBSCRIBE_MATCHING = "subscribeLiteral", "subscribePattern"
DYNSEC_DEFAULT_ACCESS = {SEND: False, RECEIVE: False, "subscribe": False, "unsubscribe": True}


def unit_acls(site: str, unit: str, role: str) -> list[tuple[str, str]]:
    """The (ACL type, topic) rights of one account; everything not listed is refused.

    A unit may touch only its own topics and subscribes to them by their exact
    names, and only an exam vehicle publishes a position; the ops viewer reads
    every unit's status, telemetry and position (the live map); only the
    bridge may subscribe through `$share/` (any group name: `mqtt.shared_group`
    is configurable), so no other account can take a turn of the bridge's messages.
    """
    everything = f"{TOPIC_ROOT}/#"
    if role == "bridge":
        return [
            (SEND, everything),
            (RECEIVE, everything),
            (SUBSCRIBE_MATCHING, everything),
            (SUBSCRIBE_MATCHING, f"$share/+/{everything}"),
        ]
    if role == "ops":
        readable = [f"{TOPIC_ROOT}/+/+/status", f"{TOPIC_ROOT}/+/+/telemetry", f"{TOPIC_ROOT}/+/+/position"]
        return [(RECEIVE, t) for t in readable] + [(SUBSCRIBE_MATCHING, t) for t in readable]
    return (
        [
            (SEND, topic(site, unit, leaf))
            for leaf in UNIT_PUBLISHES
            if role == "exam-vehicle" or leaf not in EXAM_VEHICLE_ONLY
        ]
        + [(RECEIVE, topic(site, unit, leaf)) for leaf in UNIT_SUBSCRIBES]
        + [(SUBSCRIBE_EXACT, topic(site, unit, leaf)) for leaf in UNIT_SUBSCRIBES]
    )


def dynsec_config(site_units: SiteUnits, passwords: dict[str, str]) -> dict[str, Any]:
    """The dynamic-security plugin's config: one client and one role per unit, default deny."""
    clients, roles = [], []
    for unit, role in site_units.units.items():
        salt = os.urandom(12)  # the plugin insists on 12 bytes of salt and a 64-byte hash
        digest = hashlib.pbkdf2_hmac("sha512", passwords[unit].encode(), salt, _PBKDF2_ITERATIONS, 64)
        clients.append(
            {
                "username": unit,
                "textname": f"{role} {unit}",
                "roles": [{"rolename": f"unit-{unit}"}],
                "password": base64.b64encode(digest).decode(),
                "salt": base64.b64encode(salt).decode(),
                "iterations": _PBKDF2_ITERATIONS,
            }
        )
        roles.append(
            {
                "rolename": f"unit-{unit}",
                "acls": [
                    {"acltype": kind, "topic": t, "allow": True} for kind, t in unit_acls(site_units.site, unit, role)
                ],
            }
        )
    return {"defaultACLAccess": DYNSEC_DEFAULT_ACCESS, "clients": clients, "groups": [], "roles": roles}


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode above applies only to a new file
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PassLane"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _host_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in dict.fromkeys(["127.0.0.1", "::1", *hosts]):
        if host == "localhost":
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _issue_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    hosts: list[str],
    days: int,
    cert_path: Path,
    key_path: Path,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """A TLS server certificate (serverAuth, names as SANs) and its new key (file mode 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = now or dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_host_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


SERVER_CERT_DAYS = {"broker": 825}
HTTP_CERT_DAYS = 397
CA_DAYS = 3650


@dataclass(frozen=True)
class Renewed:
    """One certificate `SitePki.renew` replaced: its file, why, and its new end."""

    path: Path
    old_end: dt.datetime
    new_end: dt.datetime
    key_path: Path | None  # a new key beside it (None: the CA, signed again with its own key)


def _days_left(cert: x509.Certificate, now: dt.datetime) -> float:
    return (cert.not_valid_after_utc - now).total_seconds() / 86400


def _san_hosts(cert: x509.Certificate) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in names]


class SitePki:
    """The trust material of one site, in one directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # paths
    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def broker_cert(self) -> Path:
        return self.root / "broker.crt"

    @property
    def broker_key(self) -> Path:
        return self.root / "broker.key"

    @property
    def dynsec_file(self) -> Path:
        """The broker's accounts and ACLs (Mosquitto dynamic-security plugin config)."""
        return self.root / "mosquitto-dynsec.json"

    def password_file(self, unit: str) -> Path:
        return self.root / "secrets" / f"{unit}.password"

    def password(self, unit: str) -> str:
        return self.password_file(unit).read_text().strip()

    def units(self) -> SiteUnits:
        return SiteUnits.model_validate_json((self.root / "units.json").read_text())

    # creation
    def init(self, site: str, units: dict[str, str], extra_hosts: list[str] | None = None) -> SiteUnits:
        """Create (or extend) the site: CA, broker certificate, accounts, password and ACL files."""
        for unit, role in units.items():
            if not UNIT_ID_RE.match(unit):
                raise ValueError(f"bad unit id {unit!r}: lower-case letters, digits and '-', at most 32")
            if role not in ROLES:
                raise ValueError(f"unit {unit!r}: unknown role {role!r}; one of {', '.join(ROLES)}")
        self.root.mkdir(parents=True, exist_ok=True)
        known = self.units().units if (self.root / "units.json").exists() else {}
        if (self.root / "units.json").exists() and self.units().site != site:
            raise ValueError(f"{self.root} already holds site {self.units().site!r}, not {site!r}")
        merged = SiteUnits(site=site, units={**known, **units})
        ca_key, ca_cert = self._ensure_ca()
        self._ensure_broker_cert(ca_key, ca_cert, extra_hosts or [])
        for unit in merged.units:
            if not self.password_file(unit).exists():
                _write_private(self.password_file(unit), (secrets.token_urlsafe(24) + "\n").encode())
        self._write_broker_accounts(merged)
        (self.root / "units.json").write_text(merged.model_dump_json(indent=2))
        return merged

    def _ensure_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key_path = self.root / "ca.key"
        if key_path.exists() and self.ca_cert.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return key, x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(key_path, _key_pem(key))
        return key, self._sign_ca(key, _name("PassLane site CA"), dt.datetime.now(dt.UTC))

    def _sign_ca(self, key: ec.EllipticCurvePrivateKey, name: x509.Name, now: dt.datetime) -> x509.Certificate:
        """The self-signed CA certificate for `key` (new, or the same key again to renew), written to ca.crt."""
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        self.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert

    def _ensure_broker_cert(
        self, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, extra_hosts: list[str]
    ) -> None:
        if self.broker_cert.exists() and self.broker_key.exists() and not extra_hosts:
            return
        _issue_server_cert(ca_key, ca_cert, "PassLane broker", extra_hosts, 825, self.broker_cert, self.broker_key)

    def http_cert(self, name: str = "bridge-http") -> tuple[Path, Path]:
        """Where `issue_http_cert(name=...)` writes: (certificate, private key)."""
        return self.root / f"{name}.crt", self.root / f"{name}.key"

    def issue_http_cert(self, hosts: list[str], name: str = "bridge-http") -> x509.Certificate:
        """A server certificate for the bridge's HTTPS side, signed by the site CA that signs the broker's.

        Always a new key and certificate (re-run to renew or to change the names). Valid
        397 days: browsers refuse longer-lived server certificates from some CAs, and the
        dashboard is read in browsers. The names are `hosts` (DNS names or IP addresses)
        and localhost, 127.0.0.1, ::1.
        """
        if not (self.root / "ca.key").exists():
            raise ValueError(f"{self.root} holds no site CA: run `passlane pki init {self.root}` first")
        if not hosts:
            raise ValueError("give the host names or IP addresses the dashboard is reached at (--host)")
        ca_key, ca_cert = self._ensure_ca()
        cert_path, key_path = self.http_cert(name)
        return _issue_server_cert(ca_key, ca_cert, "PassLane bridge (HTTPS)", hosts, 397, cert_path, key_path)

    def renew(
        self, within_days: float = 30, ca_within_days: float = 365, now: dt.datetime | None = None
    ) -> list[Renewed]:
        """Renew what expires soon: server certificates within `within_days` (new key, same names, same lifetime),
        the CA within `ca_within_days` (same key and name, 10 more years). Returns what was renewed."""
        if not (self.root / "ca.key").exists():
            raise ValueError(f"{self.root} holds no site CA: run `passlane pki init {self.root}` first")
        now = now or dt.datetime.now(dt.UTC)
        done: list[Renewed] = []
        ca_key, ca_cert = self._ensure_ca()
        if _days_left(ca_cert, now) < ca_within_days:
            new_ca = self._sign_ca(ca_key, ca_cert.subject, now)
            done.append(Renewed(self.ca_cert, ca_cert.not_valid_after_utc, new_ca.not_valid_after_utc, None))
            ca_cert = new_ca
        for cert_path in sorted(self.root.glob("*.crt")):
            key_path = cert_path.with_suffix(".key")
            if cert_path == self.ca_cert or not key_path.exists():
                continue
            old = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if old.issuer != ca_cert.subject or _days_left(old, now) >= within_days:
                continue
            days = SERVER_CERT_DAYS.get(cert_path.stem, HTTP_CERT_DAYS)
            common_name = old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            new = _issue_server_cert(
                ca_key, ca_cert, str(common_name), _san_hosts(old), days, cert_path, key_path, now=now
            )
            done.append(Renewed(cert_path, old.not_valid_after_utc, new.not_valid_after_utc, key_path))
        return done

    def _write_broker_accounts(self, site_units: SiteUnits) -> None:
        config = dynsec_config(site_units, {u: self.password(u) for u in site_units.units})
        _write_private(self.dynsec_file, json.dumps(config, indent=2).encode())
        # The password and ACL files of earlier versions: Mosquitto no longer reads them,
        # and a stale ACL file would tell a reader rights that are not what the broker enforces.
        for stale in ("mosquitto.passwd", "mosquitto.acl"):
            (self.root / stale).unlink(missing_ok=True)
