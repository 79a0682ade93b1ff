"""The one typed configuration of a lane unit: ``lane.toml`` -> pydantic models.

Built on the shared config base (`edge.settings`): every model forbids
unknown keys, so a typo fails loudly with its field path
(``mqtt.tls.ca_file: extra inputs are not permitted``); secrets (the MQTT
password, inspector PINs) never sit in the file (`Secret`: ``env`` or
``file``); the plate-number rules are the model the bridge uses too
(`edge.plate_numbers.PlateRules`). `docs/lane.md` carries a reference
generated from these models (:func:`config_reference_markdown`), checked by a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from edge.contract import SITE_ID_RE, UNIT_ID_RE
from edge.plate_numbers import PlateRules
from edge.settings import BrokerConnection, ConfigError, Secret, Section, parse, read_toml, reference_markdown

__all__ = ["ConfigError", "LaneConfig", "Secret", "check_secrets", "config_reference_markdown", "load_config", "parse_config"]


class TlsConfig(Section):
    ca_file: Path = Field(title="Site CA", description="the site CA certificate that signed the broker's certificate")


class MqttConfig(BrokerConnection):
    username: str | None = Field(None, title="Account", description="broker account (default: the unit id)")
    password: Secret = Field(title="Password", description="the unit's broker password, from env or file")
    tls: TlsConfig
    reconnect_min_s: float = Field(0.5, gt=0, title="Reconnect backoff minimum (s)")
    reconnect_max_s: float = Field(30.0, gt=0, title="Reconnect backoff maximum (s)")
    request_timeout_s: float = Field(10.0, gt=0, title="Request timeout", description="how long to wait for the cloud's Response before retrying")


class OutboxConfig(Section):
    resend_after_s: float = Field(10.0, gt=0, title="Re-send timeout", description="re-publish unacknowledged events older than this")
    batch: int = Field(200, ge=1, le=10000, title="Publish batch", description="events published per pass")
    alarm_depth: int = Field(500, ge=1, title="Outbox alarm depth", description="telemetry and the tablet raise an alarm above this many unacknowledged events")


class TelemetryConfig(Section):
    interval_s: float = Field(30.0, gt=0, title="Telemetry interval (s)", description="low value: when offline a sample is dropped and counted (telemetry_dropped), never queued")


class JournalConfig(Section):
    path: Path = Field(Path("var/lane.sqlite"), title="Journal file", description="the lane's SQLite journal: cases, events, outbox")


class IssuerConfig(Section):
    url: str = Field(min_length=1, title="Serial URL", description="pyserial URL of the plate issuer, e.g. /dev/ttyACM1 or socket://127.0.0.1:7002 (`passlane sim plate-issuer`)")


class BoardConfig(Section):
    url: str = Field(min_length=1, title="Serial URL", description="pyserial URL of the I/O board, e.g. /dev/ttyACM0 or socket://127.0.0.1:7001 (`passlane sim io-board`)")


class CameraConfig(Section):
    source: str = Field(min_length=1, title="VIN camera source",
                        description="a device number ('0'), an RTSP/HTTP stream URL, or a folder into which a snapshot camera uploads "
                                    "frames (each grab takes the newest image; *.tmp and *.tmp.jpg are ignored)")


class Inspector(Section):
    id: str = Field(min_length=1, title="Inspector id")
    name: str = Field(min_length=1, title="Display name")
    pin: Secret = Field(title="PIN", description="the inspector's PIN, from env or file")


class InspectionConfig(Section):
    items: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "passenger_car": ["vin", "engine", "brand_model", "colour", "seats", "vehicle_type", "plate_shape", "tyres", "belts_triangle"],
        },
        title="Checklist per vehicle type",
        description="inspection items of the inspection record (GA 801), per vehicle type",
    )
    required_photos: list[str] = Field(["0111", "0112", "0113"], title="Required photo type codes", description="0111 left-front 45°, 0112 right-rear 45°, 0113 VIN, ...")
    min_inspection_s: float = Field(0.0, ge=0, title="Minimum inspection time", description="unconfirmed rule: an inspection concluded faster than this is flagged; 0 disables")


class PlateConfig(PlateRules):
    """The shared plate-number rules (the bridge checks every number again) plus the lane's own choices."""

    authority: str = Field("苏A", pattern=r"^\S[A-Z]$", title="Issuing authority", description="province character + authority letter; one the bridge serves")
    options_count: int = Field(10, ge=1, le=100, title="Random options offered")


class UiConfig(Section):
    host: str = Field("127.0.0.1", title="Tablet UI address")
    port: int = Field(8080, ge=0, le=65535, title="Tablet UI port (0 = any free port)")
    language: Literal["zh-CN", "en"] = Field("zh-CN", title="Default language")
    session_secret: Secret | None = Field(None, title="Session secret", description="signs inspector sessions; a random one per start when absent")


class LaneConfig(Section):
    """The whole lane.toml."""

    site: str = Field(title="Site id")
    unit: str = Field(title="Unit id", description="this lane's unit id, e.g. lane-01; also its broker account")
    stations: list[str] = Field(["A"], min_length=1, title="Inspection stations", description="one open case per station")
    promise_minutes: float = Field(30.0, gt=0, title="Promise", description="the entry-to-exit promise a case is measured against")
    mqtt: MqttConfig
    outbox: OutboxConfig = OutboxConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    journal: JournalConfig = JournalConfig()
    io_board: BoardConfig
    plate_issuer: IssuerConfig
    camera: CameraConfig
    inspection: InspectionConfig = InspectionConfig()
    plates: PlateConfig = PlateConfig()
    ui: UiConfig = UiConfig()
    inspectors: list[Inspector] = Field([], title="Inspectors", description="who may sign in on the tablet")

    @model_validator(mode="after")
    def _ids(self) -> "LaneConfig":
        if not SITE_ID_RE.match(self.site):
            raise ValueError(f"site {self.site!r}: lower-case letters, digits and '-'")
        if not UNIT_ID_RE.match(self.unit):
            raise ValueError(f"unit {self.unit!r}: lower-case letters, digits and '-'")
        ids = [i.id for i in self.inspectors]
        if len(ids) != len(set(ids)):
            raise ValueError("inspector ids must be unique")
        if len(self.stations) != len(set(self.stations)):
            raise ValueError("station names must be unique")
        return self

    def resolve(self, base: Path) -> "LaneConfig":
        """Make relative paths relative to the config file's folder."""
        data = self.model_dump()

        def fix(p: Any) -> Any:
            return p if p is None or Path(p).is_absolute() else base / p

        data["journal"]["path"] = fix(data["journal"]["path"])
        data["mqtt"]["tls"]["ca_file"] = fix(data["mqtt"]["tls"]["ca_file"])
        if data["mqtt"]["password"].get("file"):
            data["mqtt"]["password"]["file"] = fix(data["mqtt"]["password"]["file"])
        if data["ui"].get("session_secret") and data["ui"]["session_secret"].get("file"):
            data["ui"]["session_secret"]["file"] = fix(data["ui"]["session_secret"]["file"])
        for ins in data["inspectors"]:
            if ins["pin"].get("file"):
                ins["pin"]["file"] = fix(ins["pin"]["file"])
        return LaneConfig.model_validate(data)


def parse_config(data: dict[str, Any]) -> LaneConfig:
    return parse(LaneConfig, data)


def load_config(path: Path | str) -> LaneConfig:
    path = Path(path)
    return parse(LaneConfig, read_toml(path), str(path)).resolve(path.parent.resolve())


def check_secrets(cfg: LaneConfig) -> list[str]:
    """Problems with secrets that can only be seen at run time (missing env vars, unreadable files)."""
    problems = []
    try:
        cfg.mqtt.password.reveal()
    except ConfigError as exc:
        problems.append(f"mqtt.password: {exc}")
    for n, ins in enumerate(cfg.inspectors):
        try:
            ins.pin.reveal()
        except ConfigError as exc:
            problems.append(f"inspectors.{n}.pin: {exc}")
    if not cfg.mqtt.tls.ca_file.exists():
        problems.append(f"mqtt.tls.ca_file: {cfg.mqtt.tls.ca_file} does not exist")
    return problems


def config_reference_markdown() -> str:
    """The Markdown reference of every lane.toml key (docs/lane.md), generated from the models."""
    return reference_markdown(LaneConfig)
