"""One exam on the car: the judge, its raw track, and what each of its events becomes (a journal event, a prompt).

`ExamRun` takes the stamped inputs in arrival order, writes each to the track
before judging it (the track is the evidence: a result can always be replayed
from it), and turns the judge's events into the contract's exam events and
the spoken prompts. It owns no thread, clock or socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edge.contract import EventKind
from edge.journal import NewEvent
from exam_vehicle import voice
from exam_vehicle.course import ITEM_NAMES_ZH
from exam_vehicle.judge import Deduction, ItemEnded, ItemStarted, Judge, JudgeEvent, Result, RunInvalid
from exam_vehicle.track import ExamEnded, Input, TrackHeader, line_of


def exam_event(exam_id: str, ev: JudgeEvent) -> NewEvent:
    """The contract's exam event for one judge event (docs/mqtt.md, exam.*)."""
    data: dict[str, Any]
    match ev:
        case ItemStarted():
            kind, data = EventKind.EXAM_ITEM_STARTED, {"item": ev.item, "name": ITEM_NAMES_ZH.get(ev.item, ev.item)}
        case ItemEnded():
            kind, data = EventKind.EXAM_ITEM_ENDED, {"item": ev.item, "completed": ev.completed}
        case Deduction():
            points: dict[str, Any] = {"fail": True} if ev.points == "fail" else {"points": ev.points}
            kind, data = (
                EventKind.EXAM_DEDUCTION,
                {
                    "rule_id": ev.rule_id,
                    "item": ev.item,
                    **points,
                    "wording": ev.wording,
                    "detail": ev.detail,
                    "score": ev.score,
                    "e": ev.e,
                    "n": ev.n,
                    "lat": ev.lat,
                    "lon": ev.lon,
                },
            )
        case RunInvalid():
            kind, data = EventKind.EXAM_INVALID, {"reason": ev.reason}
        case Result():
            kind, data = (
                EventKind.EXAM_RESULT,
                {
                    "score": ev.score,
                    "passed": ev.passed,
                    "rules_version": ev.rules_version,
                    "ended_by": ev.ended_by,
                    "failed_by": ev.failed_by,
                },
            )
        case _:
            raise TypeError(f"not a judge event: {ev!r}")
    return NewEvent(kind, case_id=exam_id, actor="judge", data=data, ts=ev.t)


def prompt(ev: JudgeEvent) -> str | None:
    """What the car says for one judge event (None: nothing)."""
    match ev:
        case ItemStarted():
            return voice.item_started(ITEM_NAMES_ZH.get(ev.item, ev.item))
        case ItemEnded():
            return voice.item_ended(ITEM_NAMES_ZH.get(ev.item, ev.item))
        case Deduction():
            return voice.deduction(ev.wording, None if ev.points == "fail" else ev.points)
        case RunInvalid():
            return voice.invalid(ev.reason)
        case Result():
            return voice.result(ev.score, bool(ev.passed)) if ev.passed is not None else None
    return None


@dataclass
class ExamView:
    """What the examiner's page shows of the exam in progress (or the last one)."""

    exam_id: str
    candidate: str
    rules_version: str
    started_at: float
    item: str | None = None
    score: int = 100
    deductions: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    invalid: str | None = None


class ExamRun:
    """The exam in progress: inputs in (already stamped), journal events and prompts out through the callbacks."""

    def __init__(
        self,
        header: TrackHeader,
        judge: Judge,
        track_path: Path,
        record: Callable[[list[NewEvent]], object],
        say: Callable[[str], None],
    ) -> None:
        self.header = header
        self.judge = judge
        self.track_path = track_path
        self.record = record
        self.say = say
        self.view = ExamView(
            header.exam_id, header.candidate, header.rules_version, header.started_at, score=judge.score
        )
        track_path.parent.mkdir(parents=True, exist_ok=True)
        self._track: IO[str] | None = track_path.open("a", encoding="utf-8")
        self._write(line_of(header))

    @property
    def over(self) -> bool:
        return self.view.result is not None

    def _write(self, line: str) -> None:
        if self._track is not None:
            self._track.write(line + "\n")
            self._track.flush()  # in the OS's hands at once: a killed unit loses nothing it has written

    def feed(self, inp: Input) -> None:
        """One stamped input: kept in the track, then judged."""
        if self.over:
            return
        self._write(line_of(inp))
        self._emit(self.judge.feed(inp))

    def finish(self, t: float) -> None:
        """The examiner ends the test: the judge ends the item under way and gives its result (and the track says when)."""
        if not self.over:
            self._write(line_of(ExamEnded(t=t)))
            self._emit(self.judge.finish(t))

    def _emit(self, events: list[JudgeEvent]) -> None:
        if not events:
            return
        self.record(
            [exam_event(self.header.exam_id, ev) for ev in events]
        )  # journaled before anything is said or shown
        for ev in events:
            self._show(ev)
            text = prompt(ev)
            if text:
                self.say(text)
        if self.over:
            self.close()

    def _show(self, ev: JudgeEvent) -> None:
        v = self.view
        match ev:
            case ItemStarted():
                v.item = ev.item
            case ItemEnded():
                v.item = None
            case Deduction():
                v.score = ev.score
                v.deductions.append(
                    {"rule_id": ev.rule_id, "item": ev.item, "points": ev.points, "wording": ev.wording, "t": ev.t}
                )
            case RunInvalid():
                v.invalid = ev.reason
            case Result():
                v.score = ev.score
                v.result = {"score": ev.score, "passed": ev.passed, "ended_by": ev.ended_by, "failed_by": ev.failed_by}

    def close(self) -> None:
        if self._track is not None:
            self._track.close()
            self._track = None
