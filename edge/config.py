"""The one typed configuration of a lane unit: ``lane.toml`` -> pydantic models.

Every model forbids unknown keys, so a typo fails loudly with its field path
(``mqtt.tls.ca_file: extra inputs are not permitted``). Secrets (the MQTT
password, inspector PINs) never sit in the file: a field names an environment
variable or a file that holds them (``password_env`` / ``password_file``).
`docs/lane.md` carries a reference generated from these models
(:func:`config_reference`), checked by a test.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.contract import SITE_ID_RE, UNIT_ID_RE


class ConfigError(ValueError):
    """A lane.toml that cannot be used; the message names the field path."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Secret(Section):
    """A secret taken from an environment variable or a file, never written in lane.toml."""

    env: str | None = Field(None, title="Environment variable", description="name of the environment variable holding the secret")
    file: Path | None = Field(None, title="File", description="path of a file holding the secret (first line, stripped)")

    @model_validator(mode="after")
    def _one_source(self) -> "Secret":
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def reveal(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {self.file}: {exc}") from None


class TlsConfig(Section):
    ca_file: Path = Field(title="Site CA", description="the site CA certificate that signed the broker's certificate")


class MqttConfig(Section):
    host: str = Field("127.0.0.1", title="Broker host", description="host name or address of the site broker")
    port: int = Field(8883, ge=1, le=65535, title="Broker port")
    username: str | None = Field(None, title="Account", description="broker account (default: the unit id)")
    password: Secret = Field(title="Password", description="the unit's broker password, from env or file")
    tls: TlsConfig
    keepalive_s: int = Field(15, ge=5, le=600, title="Keepalive", description="MQTT keepalive in seconds")
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


class PlateConfig(Section):
    authority: str = Field("京A", title="Issuing authority", description="province character + authority letter")
    options_count: int = Field(10, ge=1, le=100, title="Random options offered")
    compose_pattern: str = Field(r"^[A-HJ-NP-Z0-9]{5}$", title="Composed number pattern (ordinary car)")
    compose_pattern_new_energy: str = Field(r"^[DF][A-HJ-NP-Z0-9][0-9]{4}$", title="Composed number pattern (new energy)")


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


def _format_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(top)"
        lines.append(f"{where}: {err.get('msg')}")
    return "; ".join(lines)


def parse_config(data: dict[str, Any]) -> LaneConfig:
    try:
        return LaneConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def load_config(path: Path | str) -> LaneConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (TOML is): {exc}") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: an integer of more than 4300 digits
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    return parse_config(data).resolve(path.parent.resolve())


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


def config_reference(model: type[BaseModel] = LaneConfig, prefix: str = "") -> list[str]:
    """Markdown table rows of every field: path, type, default, description."""
    rows: list[str] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = field.annotation
        sub = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if sub is None:
            args = getattr(ann, "__args__", ())
            for a in args:
                if isinstance(a, type) and issubclass(a, BaseModel):
                    sub = a
        type_name = re.sub(r"\b(typing|pathlib|edge\.config)\.", "", getattr(ann, "__name__", None) or str(ann))
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = "see below" if sub else f"`{field.default_factory()!r}`"
        else:
            d = field.default
            default = "—" if isinstance(d, BaseModel) else f"`{str(d) if isinstance(d, Path) else d!r}`"
        desc = " — ".join(x for x in (field.title, field.description) if x)
        rows.append(f"| `{path}` | {type_name.replace('|', 'or')} | {default} | {desc} |")
        if sub is not None and sub is not Secret:
            rows += config_reference(sub, f"{path}.")
        elif sub is Secret:
            rows.append(f"| `{path}.env` / `{path}.file` | str / path | one of them | environment variable or file holding the secret |")
    return rows


def config_reference_markdown() -> str:
    head = "| key | type | default | meaning |\n|---|---|---|---|\n"
    return head + "\n".join(config_reference()) + "\n"
