"""What every PassLane unit's config has (a lane, an exam vehicle): who it is, its broker account, its journal.

Each role's config (`edge.config.LaneConfig`, `exam_vehicle.config.ExamVehicleConfig`) extends `UnitConfig`;
the shared runtime (`edge.mqtt_session`, `edge.outbox`, `edge.telemetry`) reads only these fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from edge.contract import SITE_ID_RE, UNIT_ID_RE
from edge.settings import BrokerConnection, Secret, Section, resolve_paths, secret_problems


class TlsConfig(Section):
    ca_file: Path = Field(title="Site CA", description="the site CA certificate that signed the broker's certificate")


class MqttConfig(BrokerConnection):
    username: str | None = Field(None, title="Account", description="broker account (default: the unit id)")
    password: Secret = Field(title="Password", description="the unit's broker password, from env or file")
    tls: TlsConfig
    reconnect_min_s: float = Field(0.5, gt=0, title="Reconnect backoff minimum (s)")
    reconnect_max_s: float = Field(30.0, gt=0, title="Reconnect backoff maximum (s)")
    request_timeout_s: float = Field(
        10.0, gt=0, title="Request timeout", description="how long to wait for the cloud's Response before retrying"
    )


class OutboxConfig(Section):
    resend_after_s: float = Field(
        10.0, gt=0, title="Re-send timeout", description="re-publish unacknowledged events older than this"
    )
    batch: int = Field(200, ge=1, le=10000, title="Publish batch", description="events published per pass")
    alarm_depth: int = Field(
        500,
        ge=1,
        title="Outbox alarm depth",
        description="telemetry and the unit's page raise an alarm above this many unacknowledged events",
    )


class TelemetryConfig(Section):
    interval_s: float = Field(
        30.0,
        gt=0,
        title="Telemetry interval (s)",
        description="low value: when offline a sample is dropped and counted (telemetry_dropped), never queued",
    )


class JournalConfig(Section):
    path: Path = Field(
        Path("var/journal.sqlite"),
        title="Journal file",
        description="the unit's SQLite journal: its events, the outbox, its state",
    )


class ClockConfig(Section):
    """A Pi has no battery clock: until NTP (or the car's GNSS) sets it, case ids, event times and exam times are wrong."""

    require_sync: bool = Field(
        True,
        title="Require a synchronised clock",
        description="no case (lane) or exam (car) starts until the clock is synchronised; false only for the demo and tests",
    )
    sync_command: list[str] | None = Field(
        None,
        min_length=1,
        title="Synchronisation probe command",
        description='a command whose exit status 0 means synchronised (e.g. ["chronyc", "waitsync", "1"]); '
        "default: the kernel's own flag (adjtimex STA_UNSYNC), which systemd-timesyncd and chrony clear",
    )
    check_interval_s: float = Field(10.0, gt=0, title="Clock check interval (s)")


class StorageConfig(Section):
    """The SD card: stop taking new work before the disk is full, and keep photos and tracks within a budget."""

    min_free_mb: float = Field(
        200.0,
        ge=0,
        title="Free space to take new work (MiB)",
        description="below this much free space where the journal lives, no new case (or exam) starts",
    )
    resume_free_mb: float = Field(
        300.0,
        ge=0,
        title="Free space to resume (MiB)",
        description="new work is taken again once this much is free (above min_free_mb, so it does not flap)",
    )
    max_age_days: float = Field(
        90.0,
        gt=0,
        title="Photo and track retention (days)",
        description="photos and exam tracks older than this are deleted once every event of their case is delivered",
    )
    files_budget_mb: float = Field(
        8192.0,
        gt=0,
        title="Photo and track budget (MiB)",
        description="above this total, the oldest delivered photos and tracks are deleted first",
    )
    sweep_interval_s: float = Field(60.0, gt=0, title="Disk and retention check interval (s)")

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.resume_free_mb < self.min_free_mb:
            raise ValueError("storage.resume_free_mb must be at least storage.min_free_mb")
        return self


class UnitConfig(Section):
    """The part of every unit's config the shared runtime uses."""

    site: str = Field(title="Site id")
    unit: str = Field(title="Unit id", description="this unit's id, e.g. lane-01 or car-07; also its broker account")
    mqtt: MqttConfig
    outbox: OutboxConfig = OutboxConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    journal: JournalConfig = JournalConfig()
    clock: ClockConfig = ClockConfig()
    storage: StorageConfig = StorageConfig()

    @model_validator(mode="after")
    def _ids(self) -> Self:
        if not SITE_ID_RE.match(self.site):
            raise ValueError(f"site {self.site!r}: lower-case letters, digits and '-'")
        if not UNIT_ID_RE.match(self.unit):
            raise ValueError(f"unit {self.unit!r}: lower-case letters, digits and '-'")
        return self

    def resolve(self, base: Path) -> Self:
        """Relative paths in the file are relative to the file's folder."""
        return resolve_paths(self, base)

    def problems(self) -> list[str]:
        """What can only be seen at run time: secrets that cannot be read, files that are not there."""
        out = secret_problems(self)
        if not self.mqtt.tls.ca_file.exists():
            out.append(f"mqtt.tls.ca_file: {self.mqtt.tls.ca_file} does not exist")
        return out
