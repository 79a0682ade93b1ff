"""`passlane vin verify` contract: JSON fields per pair, pairs CSV, every bad input a message, never a traceback."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import pytest

from vision import cli
from vision.synth import render_line

VIN = "XTAGAB110L1243238"
FIELDS = {"path", "expected", "decision", "score", "read", "differs_at", "ms"}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    cli.register(parser)
    ns = parser.parse_args(argv)
    rc = ns.func(ns)
    got = capsys.readouterr()
    return rc, got.out, got.err


@pytest.fixture()
def crop_file(tmp_path: Path) -> Path:
    p = tmp_path / "crop.png"
    cv2.imwrite(str(p), render_line(VIN, 700_500))
    return p


def test_verify_json_gives_every_field_per_image_and_a_one_symbol_impostor_does_not_match(crop_file, capsys):
    rc, out, _ = run(["verify", "--json", "--crop", "--expected", VIN, str(crop_file)], capsys)
    genuine = json.loads(out)
    assert rc == 0 and set(genuine) == FIELDS
    assert genuine["expected"] == VIN and genuine["decision"] in ("match", "review") and genuine["ms"] > 0
    impostor = VIN[:16] + ("9" if VIN[16] != "9" else "6")
    rc, out, _ = run(["verify", "--json", "--crop", "--expected", impostor, str(crop_file)], capsys)
    other = json.loads(out)
    assert other["decision"] != "match" and 17 in other["differs_at"] and other["score"] < genuine["score"]


def test_a_pairs_csv_reports_each_bad_row_and_carries_on(crop_file, tmp_path, capsys):
    (tmp_path / "text.png").write_text("not an image")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "path,expected\n"
        f"crop.png,{VIN}\n"
        "crop.png,XTAGAB110L124323O\n"  # a letter O: not a VIN
        f"missing.png,{VIN}\n"
        f"text.png,{VIN}\n"
        "only-one-field\n"
    )
    rc, out, err = run(["verify", "--json", "--crop", "--pairs", str(pairs)], capsys)
    rows = [json.loads(x) for x in out.strip().splitlines()]
    assert rc == 1 and len(rows) == 5 and "Traceback" not in err
    assert rows[0]["decision"] in ("match", "review") and "error" not in rows[0]
    assert "not a VIN" in rows[1]["error"]
    assert "no such file" in rows[2]["error"]
    assert "not a readable image" in rows[3]["error"]
    assert "line 6" in rows[4]["error"]


def test_a_table_without_json_and_refusals_of_wrong_usage(crop_file, tmp_path, capsys):
    rc, out, _ = run(["verify", "--crop", "--expected", VIN.lower(), str(crop_file)], capsys)
    assert rc == 0 and "expected" in out.splitlines()[0] and VIN in out  # the expected VIN upper-cased
    assert run(["verify", "--expected", VIN], capsys)[0] == 2
    pairs = tmp_path / "p.csv"
    pairs.write_text("file,vin\n")
    rc, _, err = run(["verify", "--pairs", str(pairs)], capsys)
    assert rc == 2 and "path,expected" in err
    rc, _, err = run(["verify", "--pairs", str(pairs), "--expected", VIN, str(crop_file)], capsys)
    assert rc == 2 and "either" in err
