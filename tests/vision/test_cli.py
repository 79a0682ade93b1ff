"""`passlane vin ...` contract: JSON fields, tables, bad inputs, odd image formats."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision import cli
from vision.synth import render_line, render_scene

VIN = "XTAGAB110L1243238"
FIELDS = {"path", "vin", "decision", "confidence", "check_digit", "box", "alternatives", "ms"}


def run(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    cli.register(parser)
    ns = parser.parse_args(argv)
    rc = ns.func(ns)
    return rc, capsys.readouterr().out


@pytest.fixture()
def crop_file(tmp_path: Path) -> Path:
    p = tmp_path / "crop.png"
    cv2.imwrite(str(p), render_line(VIN, 700_500))
    return p


def test_read_json_prints_one_object_per_input_with_the_contract_fields(crop_file, tmp_path, capsys):
    scene = tmp_path / "scene.jpg"
    cv2.imwrite(str(scene), render_scene(VIN, 700_501))
    rc, out = run(["read", "--json", str(crop_file), str(scene)], capsys)
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert rc == 0 and len(lines) == 2
    for o in lines:
        assert FIELDS <= set(o)
        assert o["decision"] in {"accept", "review", "none"}
        assert o["check_digit"] in {"valid", "invalid", None}


def test_read_crop_flag_skips_detection_and_reads_the_vin(crop_file, capsys):
    rc, out = run(["read", "--json", "--crop", str(crop_file)], capsys)
    o = json.loads(out)
    assert rc == 0 and o["vin"] == VIN and o["box"] is not None


def test_read_without_json_prints_a_table(crop_file, capsys):
    rc, out = run(["read", "--crop", str(crop_file)], capsys)
    assert rc == 0 and "decision" in out.splitlines()[0] and VIN in out


def test_bad_files_get_an_error_field_and_a_nonzero_exit_but_others_are_read(crop_file, tmp_path, capsys):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    rc, out = run(
        ["read", "--json", "--crop", str(junk), str(tmp_path / "missing.png"), str(empty), str(crop_file)], capsys
    )
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert rc != 0 and len(lines) == 4
    assert all("error" in o and o["vin"] is None for o in lines[:3])
    assert "error" not in lines[3] and lines[3]["vin"] == VIN


@pytest.mark.parametrize("kind", ["grey", "rgba", "uint16", "tiny", "huge", "float"])
def test_odd_images_are_read_without_crashing(kind, reader):
    img = render_line(VIN, 700_502)
    if kind == "grey":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif kind == "rgba":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    elif kind == "uint16":
        img = img.astype(np.uint16) * 257
    elif kind == "tiny":
        img = np.full((3, 2, 3), 128, np.uint8)
    elif kind == "huge":
        img = np.zeros((9000, 12000), np.uint8)
    elif kind == "float":
        img = img.astype(np.float32) / 255.0
    r = reader.read(img)
    assert r.decision in {"accept", "review", "none"}
    r = reader.read_crop(img)
    assert r.decision in {"accept", "review", "none"}


def test_synth_writes_images_and_a_labels_csv(tmp_path, capsys):
    rc, _ = run(["synth", str(tmp_path / "out"), "--count", "3", "--seed", "5"], capsys)
    rows = (tmp_path / "out" / "labels.csv").read_text().splitlines()
    assert rc == 0 and len(rows) == 4 and len(list((tmp_path / "out").glob("*.png"))) == 3


def test_importing_vision_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, vision; vision.VinReader; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
