"""Real exam event streams for the bridge's exam tests, without a car: a simulated drive judged by the real `ExamRun`.

`exam_stream` journals `exam.started`, every judge event and the track pieces exactly as the exam
vehicle's unit does (edge.journal: chained, gap-free seqs), so the bridge ingests what a car sends.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

from cloud_bridge.ingest import Inbound, classify
from cloud_bridge.reference import id_check_char
from edge.contract import EventEnvelope, EventKind, Leaf, UnitState, UnitStatus, topic
from edge.journal import Journal, NewEvent
from exam_vehicle.car import load_car
from exam_vehicle.course import load_course
from exam_vehicle.exam_run import ExamRun
from exam_vehicle.judge import Judge
from exam_vehicle.rules import load_rules
from exam_vehicle.track import Input, TrackHeader
from exam_vehicle.track_upload import compress_once, pieces
from site_sim.exam_car import PROFILES, drive_exam

SITE = "site-1"


@cache
def simulated(profile: str) -> tuple[TrackHeader, tuple[Input, ...]]:
    """A profile's simulated drive (seeded: the same every time), made once per session."""
    header, inputs, _ = drive_exam(PROFILES[profile][0])
    return header, tuple(inputs)


def exam_id_of(unit: str, n: int) -> str:
    return f"{unit}-261206-{n:06x}"


class Car:
    """One exam vehicle's journal: what its unit would have sent, event by event."""

    def __init__(self, tmp: Path, unit: str) -> None:
        self.unit, self.tmp = unit, tmp
        self.journal = Journal(tmp / f"{unit}.journal.sqlite", unit)

    def exam(
        self, exam_id: str, profile: str = "clean", candidate: str = "张伟", *, upload: bool = True, end: bool = True
    ) -> list[EventEnvelope]:
        """One whole exam's events (started, judged, track pieces), in the unit's order."""
        p = PROFILES[profile][0]
        header, inputs = simulated(profile)
        header = header.model_copy(update={"exam_id": exam_id, "candidate": candidate})
        out = self.journal.record(
            [
                NewEvent(
                    EventKind.EXAM_STARTED,
                    case_id=exam_id,
                    actor="examiner",
                    ts=header.started_at,
                    data={
                        "exam_id": exam_id,
                        "candidate": candidate,
                        "car": header.car,
                        "course": header.course,
                        "rules_version": header.rules_version,
                    },
                )
            ]
        )

        def record(events: list[NewEvent]) -> None:
            out.extend(self.journal.record(events))

        track = self.tmp / f"{exam_id}.jsonl"
        run = ExamRun(
            header, Judge(load_course("example-site"), load_car(p.car), load_rules(p.rules)), track, record, str
        )
        for inp in inputs if end else inputs[: len(inputs) // 3]:  # not ended: the car is still in the first items
            run.feed(inp)
        if not end:
            run.close()
            return out
        run.finish(inputs[-1].t)
        if upload:
            out += self.pieces(exam_id)
        return out

    def pieces(self, exam_id: str, piece_bytes: int = 32 * 1024) -> list[EventEnvelope]:
        gz = compress_once(self.tmp / f"{exam_id}.jsonl")
        return self.journal.record(
            [
                NewEvent(
                    EventKind.EXAM_TRACK_CHUNK, case_id=exam_id, actor="system", data=p.model_dump(), ts=time.time()
                )
                for p in pieces(exam_id, gz, piece_bytes=piece_bytes)
            ]
        )

    def event(self, kind: EventKind, exam_id: str, ts: float, **data: object) -> EventEnvelope:
        return self.journal.record([NewEvent(kind, case_id=exam_id, actor="judge", data=dict(data), ts=ts)])[0]

    def close(self) -> None:
        self.journal.close()


def inbound(events: list[EventEnvelope], site: str = SITE) -> list[Inbound]:
    return [classify(topic(site, e.unit, Leaf.EVENTS), e.to_bytes(), time.time()) for e in events]


def online(unit: str, site: str = SITE, role: str = "exam-vehicle") -> Inbound:
    """The unit's retained status `online`, as its session publishes it on connecting."""
    status = UnitStatus(unit=unit, state=UnitState.ONLINE, ts=time.time(), role=role)
    return classify(topic(site, unit, Leaf.STATUS), status.to_bytes(), time.time())


def id_number(serial: int) -> str:
    """A valid 18-character resident ID number (GB 11643 check character)."""
    first17 = f"32010219900101{serial:03d}"
    return first17 + id_check_char(first17)
