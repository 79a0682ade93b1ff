"""The bridge's one configuration model (`bridge.toml`).

Every field has a default and a description; unknown keys are refused with
their path. Secrets (the MQTT password, the payment provider's key, the
database password) never live in the file: they come from files or
environment variables named here. `docs/bridge.md` holds the reference
generated from these models (`config_reference()`), checked by a test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from edge.plate_numbers import PlateRules
from edge.settings import (
    BrokerConnection,
    ConfigError,
    Section,
    parse,
    read_secret,
    read_toml,
    reference_markdown,
    with_overrides,
)

__all__ = ["BridgeSettings", "ConfigError", "HttpTlsConfig", "PlatePoolConfig", "config_reference", "load_settings"]


class MqttConfig(BrokerConnection):
    ca: Path | None = Field(None, description="CA certificate of the site broker (PEM); default <site_dir>/ca.crt")
    site_dir: Path | None = Field(
        None,
        description="site PKI directory (`passlane pki init`); the password is read from <site_dir>/secrets/<username>.password",
    )
    username: str = Field("bridge", description="MQTT account of the bridge")
    password_file: Path | None = Field(None, description="file holding the MQTT password (overrides site_dir)")
    password_env: str = Field(
        "PASSLANE_BRIDGE_MQTT_PASSWORD", description="environment variable that may hold the MQTT password"
    )
    client_id_prefix: str = Field(
        "passlane-bridge",
        description="worker client ids are <prefix>-<n>; fixed ids make the persistent session survive restarts",
    )
    shared_group: str = Field("bridge", description="shared-subscription group ($share/<group>/...) the workers join")
    session_expiry_s: int = Field(
        7 * 24 * 3600, description="MQTT v5 session expiry: how long the broker queues for a stopped worker"
    )

    def password(self) -> str:
        site_file = self.site_dir / "secrets" / f"{self.username}.password" if self.site_dir is not None else None
        value = read_secret(file=self.password_file, env=self.password_env, what="MQTT password") or (
            read_secret(file=site_file, what="MQTT password") if site_file is not None else None
        )
        if value is None:
            raise ValueError(f"no MQTT password: set mqtt.password_file, mqtt.site_dir or ${self.password_env}")
        return value

    def ca_file(self) -> Path:
        if self.ca is not None:
            return self.ca
        if self.site_dir is not None:
            return self.site_dir / "ca.crt"
        raise ValueError("no CA certificate: set mqtt.ca or mqtt.site_dir")


class IngestConfig(Section):
    batch_max: int = Field(500, ge=1, le=2000, description="most messages written in one database transaction")
    batch_wait_ms: float = Field(
        2.0, ge=0, description="how long a worker waits to fill a batch once the first message arrived"
    )
    max_inflight: int = Field(
        1000, ge=1, description="MQTT receive maximum: unacknowledged messages the broker may send a worker"
    )
    telemetry_min_interval_s: float = Field(
        1.0, ge=0, description="telemetry of one unit is written at most this often (the latest is kept)"
    )


class HttpTlsConfig(Section):
    cert_file: Path | None = Field(
        None,
        description="PEM certificate (with any intermediates) for serving HTTPS itself, e.g. from `passlane pki http-cert`; set with key_file",
    )
    key_file: Path | None = Field(
        None, description="PEM private key of cert_file; refused if others may read it (chmod 600, or 640 for a group)"
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> HttpTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file to serve HTTPS, or neither")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class HttpConfig(Section):
    listen: str = Field("127.0.0.1:8080", description="host:port of the dashboard and API")
    public_url: str = Field(
        "",
        description="URL lanes and the payment provider reach the bridge at (default http://<listen>, https://<listen> with tls)",
    )
    session_ttl_s: int = Field(12 * 3600, ge=1, description="lifetime of a dashboard session cookie")
    secure_cookies: bool = Field(
        False,
        description="mark cookies Secure even when the request arrived over plain HTTP (set behind a TLS proxy); requests over HTTPS, and any with tls set, always get Secure cookies",
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="failed sign-ins per user name and address before the back-off starts"
    )
    login_backoff_base_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="first back-off delay after too many failed sign-ins; it doubles with every further failure",
    )
    login_lockout_s: int = Field(300, ge=1, description="longest back-off delay between two sign-in tries")
    login_window_s: int = Field(
        3600, ge=60, description="failed sign-ins older than this are forgotten by the back-off"
    )
    login_user_max_failures: int = Field(
        20,
        ge=1,
        le=1000,
        description="failed sign-ins for one user name from all addresses (each address counted up to login_max_failures) before a user-wide back-off starts",
    )
    login_audit_window_s: int = Field(
        60,
        ge=1,
        le=3600,
        description="failed and refused sign-ins beyond the first few per address are written to the audit log as one summary per this many seconds",
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, description="largest request body accepted (413 above it)"
    )
    metrics_public: bool = Field(
        True, description="serve /metrics without a token (for a Prometheus on a private network)"
    )
    default_language: str = Field(
        "zh-CN", pattern="^(zh-CN|en)$", description="dashboard language unless the user picks another"
    )
    tls: HttpTlsConfig = Field(default_factory=HttpTlsConfig)

    @model_validator(mode="after")
    def _served_over_tls(self) -> HttpConfig:
        """Served over HTTPS, the app must mark its cookies Secure and give https:// links (pay_url)."""
        if self.tls.enabled:
            self.secure_cookies = True
            self.public_url = self.public_url or f"https://{self.listen}"
        return self


class PlatePoolConfig(PlateRules):
    """The shared plate-number rules plus what only the bridge, which holds the pools, decides."""

    options_default: int = Field(50, ge=1, le=200, description="random numbers offered per plate.options request")
    reservation_s: int = Field(600, ge=10, description="how long a reserved number is held for a case")


class PaymentsConfig(Section):
    key_file: Path | None = Field(None, description="file holding the payment provider's HMAC key")
    key_env: str = Field(
        "PASSLANE_PAYMENT_KEY", description="environment variable that may hold the payment provider's HMAC key"
    )
    max_skew_s: int = Field(
        300, ge=1, description="a callback's timestamp must be within this many seconds of the bridge clock"
    )
    fees_cents: dict[str, int] = Field(
        default_factory=lambda: {"plate": 10000, "licence": 1000},
        description="fee per item a lane may ask payment for (cents)",
    )

    def key(self) -> bytes:
        value = read_secret(file=self.key_file, env=self.key_env, what="payment provider key")
        if value is None:
            raise ValueError(f"no payment provider key: set payments.key_file or ${self.key_env}")
        return value.encode()


class LimitsConfig(Section):
    """What one unit may ask of the bridge: a compromised or faulty unit cannot exhaust plate pools or partner look-ups."""

    requests_per_s: float = Field(
        5.0, gt=0, description="sustained requests per second one unit may make (token bucket)"
    )
    requests_burst: int = Field(40, ge=1, description="requests one unit may make at once before the rate applies")
    reservations_per_unit: int = Field(8, ge=1, description="plate numbers one unit may hold reserved at a time")
    offers_per_case: int = Field(400, ge=1, description="random plate numbers offered to one case in all")
    lookups_per_case: int = Field(10, ge=1, description="partner look-ups one case may make")


class AuditConfig(Section):
    key_file: Path | None = Field(
        None,
        description="file holding the key that signs each audit entry (HMAC); kept outside the database, so a log edited and re-chained by someone who can write the database fails `audit verify`",
    )
    key_env: str = Field("PASSLANE_AUDIT_KEY", description="environment variable that may hold the audit key")

    def key(self) -> bytes | None:
        """The audit key, or None when none is configured (entries are then chained but not signed)."""
        value = read_secret(file=self.key_file, env=self.key_env, what="audit key")
        return value.encode() if value is not None else None


class RulesConfig(Section):
    file: Path | None = Field(
        None, description="risk rules file (TOML, the [rules] table of docs/bridge.md); default: built-in defaults"
    )


class DashboardConfig(Section):
    time_scale: float = Field(
        1.0,
        gt=0,
        le=10000,
        description="seconds of site time one second of event time stands for: 1 at a real site; a simulated site "
        "whose world runs N times faster (`passlane demo --speed N`) sets N, and the dashboard then shows durations "
        "in the site's (simulated) time",
    )

    @property
    def simulated(self) -> bool:
        """A sped-up site: durations are labelled as simulated time."""
        return self.time_scale != 1.0


class BridgeSettings(Section):
    """`bridge.toml`: everything one bridge deployment needs."""

    db: str = Field("var/bridge.sqlite3", description="SQLite file path, or postgresql://... for several workers")
    db_password_env: str = Field(
        "PASSLANE_BRIDGE_DB_PASSWORD", description="environment variable that may hold the PostgreSQL password"
    )
    workers: int = Field(1, ge=0, le=16, description="MQTT ingest workers in this process (0: HTTP only)")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    plates: PlatePoolConfig = Field(default_factory=PlatePoolConfig)
    payments: PaymentsConfig = Field(default_factory=PaymentsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    authorities: list[str] = Field(
        default_factory=lambda: ["苏A"],
        description="issuing authorities (province character + letter) whose plate pools this bridge serves",
    )

    @model_validator(mode="after")
    def _check(self) -> BridgeSettings:
        for auth in self.authorities:
            if len(auth) != 2 or not auth[1].isascii() or not auth[1].isupper():
                raise ValueError(f"authority {auth!r}: a province character followed by one capital letter, e.g. 苏A")
        return self

    def db_url(self) -> str:
        if self.db.startswith("postgresql://") and os.environ.get(self.db_password_env) and "@" not in self.db:
            return self.db.replace("postgresql://", f"postgresql://:{os.environ[self.db_password_env]}@", 1)
        return self.db


def load_settings(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> BridgeSettings:
    """Read `bridge.toml` (optional), apply dotted overrides, validate; errors name the field path."""
    data = read_toml(path) if path is not None else {}
    return parse(BridgeSettings, with_overrides(data, overrides), str(path or "settings"))


def config_reference() -> str:
    """The Markdown reference of every `bridge.toml` key, generated from the models."""
    return reference_markdown(BridgeSettings)
