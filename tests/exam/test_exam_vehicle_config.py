"""exam-vehicle.toml: the shared unit config plus the car's own parts; its reference in the docs is generated from the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.settings import ConfigError
from exam_vehicle.config import config_reference_markdown, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_carry_the_reference_generated_from_the_models() -> None:
    doc = (ROOT / "docs" / "exam-vehicle.md").read_text()
    start = doc.index("<!-- config-reference:start -->\n") + len("<!-- config-reference:start -->\n")
    assert doc[start : doc.index("<!-- config-reference:end -->")] == config_reference_markdown()


def test_the_example_config_names_shipped_course_car_and_rules_and_says_what_is_missing(tmp_path: Path) -> None:
    example = ROOT / "exam_vehicle" / "exam-vehicle.example.toml"
    cfg = load_config(example)
    assert Path(cfg.exam.course).name == "example-site.geojson" and Path(cfg.exam.rules).name == "c1-2022.toml"
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "exam", "check-config", str(example)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1 and "passlane pki init" in out.stderr


def test_an_unknown_key_and_a_missing_course_are_refused_with_their_paths(tmp_path: Path) -> None:
    base = (ROOT / "exam_vehicle" / "exam-vehicle.example.toml").read_text()
    bad = tmp_path / "a.toml"
    bad.write_text(base.replace("[gnss]\n", "[gnss]\nbaudrate = 9600\n"))
    with pytest.raises(ConfigError, match=r"gnss\.baudrate"):
        load_config(bad)
    bad.write_text(base.replace('course = "example-site"', 'course = "no-such-course"'))
    with pytest.raises(ConfigError, match=r"exam\.course"):
        load_config(bad)
