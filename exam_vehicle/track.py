"""The raw track of one exam: every judge input in arrival order, one JSON object per line.

The unit appends each `Epoch` and `SignalChange` as it stamps it; the file (gzip
when uploaded) is the evidence behind a result: `passlane exam judge --track`
feeds the same inputs in the same order to the same judge. A first line of
kind ``header`` names the exam (exam id, candidate, car, course, rules version).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict

from exam_vehicle.gnss.epoch import Epoch
from exam_vehicle.signals import SignalChange

Input = Epoch | SignalChange


class ExamEnded(BaseModel):
    """The examiner ended the exam at `t` (the judge's finish): written last, so a replay finishes where the car did."""

    model_config = ConfigDict(extra="forbid")
    t: float


class TrackHeader(BaseModel):
    """What the track is of; written first."""

    model_config = ConfigDict(extra="forbid")
    exam_id: str
    candidate: str = ""
    car: str = ""
    course: str = ""
    rules_version: str = ""
    started_at: float = 0.0


def line_of(item: Input | TrackHeader | ExamEnded) -> str:
    """One track line (no newline)."""
    kind = (
        "epoch"
        if isinstance(item, Epoch)
        else "signal"
        if isinstance(item, SignalChange)
        else "ended"
        if isinstance(item, ExamEnded)
        else "header"
    )
    return json.dumps(
        {"kind": kind, **item.model_dump(mode="json", exclude_none=True)}, separators=(",", ":"), ensure_ascii=False
    )


def parse_line(line: str) -> Input | TrackHeader | ExamEnded | None:
    """A track line back as its model; None for a blank line. Raises ValueError on anything else."""
    if not line.strip():
        return None
    obj: dict[str, Any] = json.loads(line)
    kind = obj.pop("kind", None)
    if kind == "epoch":
        return Epoch.model_validate(obj)
    if kind == "signal":
        return SignalChange.model_validate(obj)
    if kind == "header":
        return TrackHeader.model_validate(obj)
    if kind == "ended":
        return ExamEnded.model_validate(obj)
    raise ValueError(f"unknown track line kind {kind!r}")


def _open(path: Path) -> TextIO:
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_track(path: Path | str) -> tuple[TrackHeader | None, list[Input]]:
    """The header (if any) and the inputs of a track file (`.jsonl` or `.jsonl.gz`)."""
    track = load_track(path)
    return track.header, track.inputs


class Track(BaseModel):
    """A whole track: what it is of, its inputs in order, and when the examiner ended it (if they did)."""

    header: TrackHeader | None = None
    inputs: list[Input] = []
    ended_at: float | None = None


def load_track(path: Path | str) -> Track:
    header: TrackHeader | None = None
    inputs: list[Input] = []
    ended: float | None = None
    with _open(Path(path)) as fh:
        for line in fh:
            item = parse_line(line)
            if isinstance(item, TrackHeader):
                header = item
            elif isinstance(item, ExamEnded):
                ended = item.t
            elif item is not None:
                inputs.append(item)
    return Track(header=header, inputs=inputs, ended_at=ended)


def iter_lines(header: TrackHeader | None, inputs: Iterable[Input]) -> Iterator[str]:
    if header is not None:
        yield line_of(header)
    for item in inputs:
        yield line_of(item)
