"""lane.toml: one typed model, unknown keys rejected with their path, secrets only from env or files, docs generated."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edge.config import ConfigError, config_reference_markdown, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "lane_controller" / "lane.example.toml"


def _base() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def test_the_example_config_is_valid():
    cfg = parse_config(_base())
    assert cfg.unit == "lane-01" and cfg.inspection.required_photos == ["0111", "0112", "0113"]


def test_an_unknown_key_is_rejected_with_its_field_path():
    data = _base()
    data["mqtt"]["tls"]["cafile"] = "typo"
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.cafile"):
        parse_config(data)


def test_a_secret_written_inline_is_refused():
    data = _base()
    data["mqtt"]["password"] = "hunter2"
    with pytest.raises(ConfigError, match=r"mqtt\.password"):
        parse_config(data)
    data["mqtt"]["password"] = {"env": "A", "file": "b"}
    with pytest.raises(ConfigError, match="exactly one of env or file"):
        parse_config(data)


def test_check_config_reports_missing_secrets(tmp_path, monkeypatch):
    cfg = tmp_path / "lane.toml"
    cfg.write_text(EXAMPLE.read_text())
    monkeypatch.delenv("PASSLANE_PIN_INSP_1", raising=False)
    r = subprocess.run(
        [sys.executable, "-m", "edge.cli", "lane", "check-config", "--config", str(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1
    assert "inspectors.0.pin" in r.stderr and "mqtt.password" in r.stderr


def test_bad_unit_id_is_refused():
    data = _base()
    data["unit"] = "Lane 01"
    with pytest.raises(ConfigError, match="unit"):
        parse_config(data)


def test_docs_carry_the_reference_generated_from_the_models():
    doc = (ROOT / "docs" / "lane.md").read_text()
    start = doc.index("<!-- config-reference:start -->") + len("<!-- config-reference:start -->\n")
    end = doc.index("<!-- config-reference:end -->")
    assert doc[start:end] == config_reference_markdown(), "docs/lane.md is stale: run `passlane lane config-reference`"


def test_docs_list_every_tablet_api_route():
    from lane_controller.web import ROUTERS  # one router per area of the tablet

    doc = (ROOT / "docs" / "lane.md").read_text()
    routes = {
        (m, r.path.replace("{path:path}", "{path}"))
        for router in ROUTERS
        for r in router.routes
        for m in r.methods
        if r.path.startswith("/api/")
    }
    assert len(routes) > 10  # the routers were found
    for method, path in routes:
        assert f"{method.upper()} {path}" in doc, f"docs/lane.md does not document {method.upper()} {path}"
