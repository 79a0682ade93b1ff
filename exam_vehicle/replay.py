"""Judging a recorded track again: the same inputs in the same order, finished where the car finished."""

from __future__ import annotations

from exam_vehicle.judge import Judge, JudgeEvent
from exam_vehicle.track import Track


def replay(judge: Judge, track: Track) -> list[JudgeEvent]:
    """Every event the judge gives for the track; the car's own events for the same track are the same."""
    events: list[JudgeEvent] = []
    for inp in track.inputs:
        events += judge.feed(inp)
    if track.inputs or track.ended_at is not None:
        events += judge.finish(track.ended_at if track.ended_at is not None else track.inputs[-1].t)
    return events
