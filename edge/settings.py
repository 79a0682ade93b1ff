"""The one base of every PassLane configuration (`lane.toml`, `bridge.toml`, later roles).

A config is a tree of pydantic models on `Section` (unknown keys refused with
their path); secrets never sit in the file (`Secret`: an environment variable
or a file); every problem is one `ConfigError` whose message names the field
path; the reference in the docs is generated from the models
(`reference_markdown`), so docs and code cannot drift.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field path."""


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def read_secret(*, file: Path | None = None, env: str | None = None, what: str = "secret") -> str | None:
    """A secret from a file (first line, stripped) or an environment variable, or None when neither names one.

    The one way every PassLane config reads a secret; an unreadable file is a ConfigError naming it.
    """
    if file is not None:
        try:
            return file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {what} file {file}: {exc}") from None
    if env is not None and os.environ.get(env):
        return os.environ[env]
    return None


class BrokerConnection(Section):
    """Where a unit or the bridge reaches the site broker (TLS only); each config adds its account and certificates."""

    host: str = Field("127.0.0.1", title="Broker host", description="host name or address of the site broker")
    port: int = Field(8883, ge=1, le=65535, title="Broker port", description="the broker's TLS port")
    keepalive_s: int = Field(15, ge=5, le=600, title="Keepalive", description="MQTT keepalive in seconds")


class Secret(Section):
    """A secret taken from an environment variable or a file, never written in the config file."""

    env: str | None = Field(
        None, title="Environment variable", description="name of the environment variable holding the secret"
    )
    file: Path | None = Field(
        None, title="File", description="path of a file holding the secret (first line, stripped)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def reveal(self) -> str:
        value = read_secret(file=self.file, env=self.env)
        if value is None:
            raise ConfigError(f"environment variable {self.env} is not set")
        return value


def validation_message(exc: ValidationError) -> str:
    """Every error of a validation as ``field.path: message``, joined by ``; ``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(top)"
        lines.append(f"{where}: {err.get('msg')}")
    return "; ".join(lines)


def read_toml(path: Path | str) -> dict[str, Any]:
    """A TOML file as a dict; an unreadable or malformed file is a ConfigError naming it."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (TOML is): {exc}") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: an integer of more than 4300 digits
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None


def with_overrides(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """`data` with dotted keys (``mqtt.port``) set from `overrides`; None values are skipped."""
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{dotted}: {part} is not a section")
            node = child
        node[last] = value
    return data


def parse(model: type[M], data: Any, source: str = "") -> M:
    """Validate `data` as `model`; any problem is one ConfigError naming `source` and the field paths."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError((f"{source}: " if source else "") + validation_message(exc)) from None


def resolve_paths(model: M, base: Path) -> M:
    """A copy of `model` with every relative `Path` field, at any depth (lists too), made relative to `base`:
    a config file's paths mean "beside this file", wherever the process was started."""

    def fix(obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            updates = {
                name: new for name in type(obj).model_fields if (new := fix(old := getattr(obj, name))) is not old
            }
            return obj.model_copy(update=updates) if updates else obj
        if isinstance(obj, Path):
            return obj if obj.is_absolute() else base / obj
        if isinstance(obj, list):
            new_list = [fix(x) for x in obj]
            return new_list if any(a is not b for a, b in zip(new_list, obj)) else obj
        return obj

    return fix(model)


def secret_problems(model: BaseModel, prefix: str = "") -> list[str]:
    """Every `Secret` of a config that cannot be read now (an unset variable, an unreadable file), by field path."""
    problems: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            path = f"{prefix}{name}" + (f".{index}" if index is not None else "")
            if isinstance(item, Secret):
                try:
                    item.reveal()
                except ConfigError as exc:
                    problems.append(f"{path}: {exc}")
            elif isinstance(item, BaseModel):
                problems += secret_problems(item, f"{path}.")
    return problems


def _sub_model(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in getattr(ann, "__args__", ()):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{str(value) if isinstance(value, Path) else value!r}`"


def _type_text(ann: Any) -> str:
    text = getattr(ann, "__name__", None) if isinstance(ann, type) else None
    text = text or re.sub(
        r"\b(typing|pathlib|edge\.settings|edge\.config|edge\.plate_numbers|cloud_bridge\.config)\.", "", str(ann)
    )
    return text.replace("|", "or")


def reference_markdown(model: type[BaseModel]) -> str:
    """The Markdown reference of every key of a config model: one table per section (key, type, default, meaning)."""
    out: list[str] = []

    def walk(m: type[BaseModel], prefix: str) -> None:
        rows: list[str] = []
        subs: list[tuple[str, type[BaseModel]]] = []
        for name, field in m.model_fields.items():
            sub = _sub_model(field.annotation)
            if sub is Secret:
                rows.append(
                    f"| `{prefix}{name}.env` / `{prefix}{name}.file` | secret | {'required' if field.is_required() else 'none'} | "
                    f"{' — '.join(x for x in (field.title, field.description) if x)} (an environment variable or a file, never the value) |"
                )
                continue
            if sub is not None:
                subs.append((name, sub))
                continue
            meaning = " — ".join(x for x in (field.title, field.description) if x)
            rows.append(f"| `{prefix}{name}` | {_type_text(field.annotation)} | {_default_text(field)} | {meaning} |")
        if rows:
            table = prefix.rstrip(".")
            heading = (
                "### top level"
                if not prefix
                else (f"### `[[{table}]]` (a list)" if table in lists else f"### `[{table}]`")
            )
            out.extend([heading, "", "| key | type | default | meaning |", "|---|---|---|---|", *rows, ""])
        for name, sub in subs:
            if typing.get_origin(m.model_fields[name].annotation) is list:
                lists.add(f"{prefix}{name}")
            walk(sub, f"{prefix}{name}.")

    lists: set[str] = set()
    walk(model, "")
    return "\n".join(out)
