"""Shared fixtures: one VinReader with the shipped models for the whole session."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def reader():
    from vision import VinReader

    return VinReader()


@pytest.fixture(scope="session")
def synth_crops() -> list[tuple[str, object]]:
    rows = list(csv.DictReader((DATA / "synth_crops" / "labels.csv").open()))
    return [(r["vin"], cv2.imread(str(DATA / "synth_crops" / r["file"]))) for r in rows]
