"""The exam vehicle's configuration (``exam-vehicle.toml``): the shared unit config plus its receiver, board and exam.

Built on `edge.unit_config.UnitConfig` like the lane's: the same broker account,
outbox, telemetry and journal fields, the same errors with field paths, secrets
never in the file. `docs/exam-vehicle.md` carries the reference generated from
these models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edge.settings import ConfigError, Section, parse, read_toml, reference_markdown
from edge.unit_config import JournalConfig, UnitConfig

PACKAGE = Path(__file__).parent


class GnssConfig(Section):
    url: str = Field(
        min_length=1,
        title="Receiver",
        description="pyserial URL of the RTK receiver: /dev/ttyACM0, or socket://host:port (`passlane sim gnss`)",
    )
    baud: int = Field(115200, ge=1200, title="Baud rate", description="for a serial device; ignored for socket://")


class VehicleBoardConfig(Section):
    url: str = Field(
        min_length=1,
        title="Vehicle board",
        description="pyserial URL of the vehicle board (`passlane sim vehicle-board`)",
    )
    pulses_per_rev: float | None = Field(
        None, gt=0, title="Tach pulses per revolution", description="the engine's; the board's default when absent"
    )


class ExamSetup(Section):
    course: str = Field(
        "example-site",
        title="Course",
        description="the surveyed course: a GeoJSON file, or the name of one shipped in exam_vehicle/courses/",
    )
    car: str = Field(
        "c1-example", title="Car model", description="a car TOML file, or the name of one shipped in exam_vehicle/cars/"
    )
    rules: str = Field(
        "c1-2022",
        title="Rules table",
        description="a rules TOML file, or the name of one shipped in exam_vehicle/rules/",
    )
    time_base: Literal["unit", "gnss"] = Field(
        "gnss",
        title="Judging time base",
        description="the clock every judge input is stamped on: gnss (the receiver's fix times, signals interpolated "
        "between them; a Pi has no real-time clock) or unit (the unit's clock on arrival)",
    )
    position_hz: float = Field(
        5.0,
        ge=2.0,
        le=10.0,
        title="Position reports per second",
        description="live positions on the position leaf (QoS 0) while the receiver gives a fix",
    )


class PageConfig(Section):
    host: str = Field("127.0.0.1", title="Status page address", description="the examiner's page in the car")
    port: int = Field(8090, ge=0, le=65535, title="Status page port (0 = any free port)")
    language: Literal["zh-CN", "en"] = Field("zh-CN", title="Default language")


class AudioConfig(Section):
    enabled: bool = Field(True, title="Voice prompts", description="speak items, deductions and the result in the car")
    device: str | None = Field(
        None, title="ALSA device", description="aplay's -D device; the default device when absent"
    )
    voice: str = Field("cmn", title="espeak-ng voice", description="cmn: Mandarin")


class ExamVehicleConfig(UnitConfig):
    """The whole exam-vehicle.toml."""

    journal: JournalConfig = JournalConfig(path=Path("var/exam-vehicle.sqlite"))
    gnss: GnssConfig
    vehicle_board: VehicleBoardConfig
    exam: ExamSetup = ExamSetup()
    page: PageConfig = PageConfig()
    audio: AudioConfig = AudioConfig()
    tracks_dir: Path = Field(
        Path("var/tracks"), title="Tracks", description="where each exam's raw track is kept until it is uploaded"
    )


def shipped(value: str, folder: str, suffix: str, base: Path | None = None) -> Path:
    """A file named in the config: a path (relative to the config file's folder), or the name of one shipped with the unit."""
    path = Path(value)
    if not path.is_absolute() and base is not None and (base / path).exists():
        return base / path
    if path.exists():
        return path
    candidate = PACKAGE / folder / f"{value}{suffix}"
    if candidate.exists():
        return candidate
    raise ConfigError(f"{value!r}: no such file, and no {suffix} named so in exam_vehicle/{folder}/")


def load_config(path: Path | str) -> ExamVehicleConfig:
    """The config file, its relative paths made relative to its folder and its course, car and rules found (or a ConfigError)."""
    path = Path(path)
    base = path.parent.resolve()
    cfg = parse(ExamVehicleConfig, read_toml(path), str(path)).resolve(base)
    found = {}
    for key, folder, suffix in (
        ("course", "courses", ".geojson"),
        ("car", "cars", ".toml"),
        ("rules", "rules", ".toml"),
    ):
        try:
            found[key] = str(shipped(getattr(cfg.exam, key), folder, suffix, base))
        except ConfigError as exc:
            raise ConfigError(f"{path}: exam.{key}: {exc}") from None
    return cfg.model_copy(update={"exam": cfg.exam.model_copy(update=found)})


def config_reference_markdown() -> str:
    return reference_markdown(ExamVehicleConfig)
