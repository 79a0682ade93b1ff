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

from edge.plate_numbers import PlateRules
from edge.settings import ConfigError, Secret, Section, parse, read_toml, reference_markdown
from edge.unit_config import JournalConfig, UnitConfig

__all__ = [
    "ConfigError",
    "LaneConfig",
    "Secret",
    "check_secrets",
    "config_reference_markdown",
    "load_config",
    "parse_config",
]


class IssuerConfig(Section):
    url: str = Field(
        min_length=1,
        title="Serial URL",
        description="pyserial URL of the plate issuer, e.g. /dev/ttyACM1 or socket://127.0.0.1:7002 (`passlane sim plate-issuer`)",
    )


class BoardConfig(Section):
    url: str = Field(
        min_length=1,
        title="Serial URL",
        description="pyserial URL of the I/O board, e.g. /dev/ttyACM0 or socket://127.0.0.1:7001 (`passlane sim io-board`)",
    )


class CameraConfig(Section):
    source: str = Field(
        min_length=1,
        title="VIN camera source",
        description="a device number ('0'), an RTSP/HTTP stream URL, a Raspberry Pi camera module ('picamera2:0', "
        "through picamera2 where it is installed), or a folder into which a snapshot camera uploads "
        "frames (each grab takes the newest image; *.tmp and *.tmp.jpg are ignored)",
    )


class Inspector(Section):
    id: str = Field(min_length=1, title="Inspector id")
    name: str = Field(min_length=1, title="Display name")
    pin: Secret = Field(title="PIN", description="the inspector's PIN, from env or file")


class InspectionConfig(Section):
    items: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "passenger_car": [
                "vin",
                "engine",
                "brand_model",
                "colour",
                "seats",
                "vehicle_type",
                "plate_shape",
                "tyres",
                "belts_triangle",
            ],
        },
        title="Checklist per vehicle type",
        description="inspection items of the inspection record (GA 801), per vehicle type",
    )
    required_photos: list[str] = Field(
        ["0111", "0112", "0113"],
        title="Required photo type codes",
        description="0111 left-front 45°, 0112 right-rear 45°, 0113 VIN, ...",
    )
    min_inspection_s: float = Field(
        0.0,
        ge=0,
        title="Minimum inspection time",
        description="unconfirmed rule: an inspection concluded faster than this is flagged; 0 disables",
    )


class PlateConfig(PlateRules):
    """The shared plate-number rules (the bridge checks every number again) plus the lane's own choices."""

    authority: str = Field(
        "苏A",
        pattern=r"^\S[A-Z]$",
        title="Issuing authority",
        description="province character + authority letter; one the bridge serves",
    )
    options_count: int = Field(10, ge=1, le=100, title="Random options offered")


class UiConfig(Section):
    host: str = Field("127.0.0.1", title="Tablet UI address")
    port: int = Field(8080, ge=0, le=65535, title="Tablet UI port (0 = any free port)")
    language: Literal["zh-CN", "en"] = Field("zh-CN", title="Default language")
    time_scale: float = Field(
        1.0,
        gt=0,
        le=100_000,
        title="Site seconds per lane second",
        description="1 at a real lane; a sped-up simulated site (`passlane demo --speed`) sets its speed, so that the "
        "tablet shows case times, and measures the promise, in the site's simulated minutes",
    )
    session_secret: Secret | None = Field(
        None, title="Session secret", description="signs inspector sessions; a random one per start when absent"
    )


class LaneConfig(UnitConfig):
    """The whole lane.toml."""

    stations: list[str] = Field(
        ["A"], min_length=1, title="Inspection stations", description="one open case per station"
    )
    promise_minutes: float = Field(
        30.0, gt=0, title="Promise", description="the entry-to-exit promise a case is measured against"
    )
    journal: JournalConfig = JournalConfig(path=Path("var/lane.sqlite"))
    io_board: BoardConfig
    plate_issuer: IssuerConfig
    camera: CameraConfig
    inspection: InspectionConfig = InspectionConfig()
    plates: PlateConfig = PlateConfig()
    ui: UiConfig = UiConfig()
    inspectors: list[Inspector] = Field([], title="Inspectors", description="who may sign in on the tablet")

    @property
    def promise_lane_s(self) -> float:
        """The promise in the lane's own seconds (the site's minutes divided by `ui.time_scale`)."""
        return self.promise_minutes * 60 / self.ui.time_scale

    @model_validator(mode="after")
    def _unique(self) -> LaneConfig:
        ids = [i.id for i in self.inspectors]
        if len(ids) != len(set(ids)):
            raise ValueError("inspector ids must be unique")
        if len(self.stations) != len(set(self.stations)):
            raise ValueError("station names must be unique")
        return self


def parse_config(data: dict[str, Any]) -> LaneConfig:
    return parse(LaneConfig, data)


def load_config(path: Path | str) -> LaneConfig:
    path = Path(path)
    return parse(LaneConfig, read_toml(path), str(path)).resolve(path.parent.resolve())


def check_secrets(cfg: LaneConfig) -> list[str]:
    """Problems with secrets and files that can only be seen at run time (missing env vars, unreadable files)."""
    return cfg.problems()


def config_reference_markdown() -> str:
    """The Markdown reference of every lane.toml key (docs/lane.md), generated from the models."""
    return reference_markdown(LaneConfig)
