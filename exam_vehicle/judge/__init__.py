"""The exam judge: pure (inputs in, events out; no clock, no files). See `core.Judge` and `docs/exam-judging.md`."""

from exam_vehicle.judge.core import Judge, check_table, known_rules
from exam_vehicle.judge.events import (
    Deduction,
    ItemEnded,
    ItemStarted,
    JudgeEvent,
    Result,
    RunInvalid,
)

__all__ = [
    "Deduction",
    "ItemEnded",
    "ItemStarted",
    "Judge",
    "JudgeEvent",
    "Result",
    "RunInvalid",
    "check_table",
    "known_rules",
]
