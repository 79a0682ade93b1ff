"""`passlane vin read` on an image that is already a crop of the VIN line, read as a whole frame: it says
that no VIN line was found and that --crop reads such an image (on stderr: stdout stays the table or JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CROP = ROOT / "tests" / "vision" / "data" / "real_crops" / "000.png"  # a real VIN-line crop, 81x28 pixels
HINT = "--crop reads an image that is already the VIN line"


def vin_read(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "vin", "read", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_crop_read_as_a_whole_frame_says_no_vin_line_was_found_and_suggests_crop() -> None:
    r = vin_read(str(CROP))
    assert r.returncode == 0
    assert " none " in r.stdout.splitlines()[1]
    assert f"{CROP}: no VIN line found; {HINT}" in r.stderr

    r = vin_read("--json", str(CROP), str(CROP))
    assert [json.loads(line)["decision"] for line in r.stdout.splitlines()] == ["none", "none"]
    assert f"no VIN line found in 2 of 2 images; {HINT}" in r.stderr


def test_the_same_crop_with_crop_is_read_and_gets_no_hint() -> None:
    r = vin_read("--crop", str(CROP))
    assert r.returncode == 0
    assert " none " not in r.stdout and "no VIN line" not in r.stderr
