"""`passlane bench exam`: replay a 15-minute, 10 Hz simulated exam through the judge and time it; then the live unit's numbers.

The exam is the simulator's clean driver (`site_sim/exam_car.py`) queueing before each item so the
whole takes the minutes asked for. The track is written and read back like a real one; the judge's
time is the best of three replays (the same inputs give the same events, so any replay will do).
Target: well under one second for 15 minutes on the Pi.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from exam_vehicle.car import load_car
from exam_vehicle.course import load_course
from exam_vehicle.gnss.epoch import Epoch
from exam_vehicle.judge import Judge, Result
from exam_vehicle.rules import load_rules
from exam_vehicle.track import read_track
from site_sim.exam_car import PROFILES, drive_exam, write_track


def _exam(minutes: float) -> tuple[Path, int, int, float]:
    base = PROFILES["clean"][0]
    _, inputs, _ = drive_exam(base)
    clean_s = inputs[-1].t - inputs[0].t
    wait = max(0.0, (minutes * 60.0 - clean_s) / 5)
    header, inputs, _ = drive_exam(replace(base, name="bench", wait_before_items=wait))
    path = Path(tempfile.mkdtemp(prefix="passlane-bench-exam-")) / "exam.jsonl"
    write_track(path, header, inputs)
    epochs = sum(isinstance(i, Epoch) for i in inputs)
    return path, epochs, len(inputs) - epochs, inputs[-1].t - inputs[0].t


def run(minutes: float = 15.0, live_seconds: float = 120.0) -> int:
    """Print the table; 0 when the replay judged the exam to its end."""
    started = time.perf_counter()
    path, epochs, signals, span = _exam(minutes)
    sim_s = time.perf_counter() - started
    course, car, rules = load_course("example-site"), load_car("c1-example"), load_rules("c1-2022")
    t = time.perf_counter()
    _, inputs = read_track(path)
    read_s = time.perf_counter() - t
    best, result = float("inf"), None
    for _ in range(3):
        judge = Judge(course, car, rules)
        t = time.perf_counter()
        events = [e for i in inputs for e in judge.feed(i)] + judge.finish(inputs[-1].t)
        best = min(best, time.perf_counter() - t)
        result = next((e for e in events if isinstance(e, Result)), None)
    rows = [
        ("simulated exam", f"{span / 60:.1f} min, {epochs} epochs (10 Hz), {signals} signal changes"),
        ("track file", f"{path.stat().st_size / 1e6:.1f} MB JSON lines, read in {read_s * 1000:.0f} ms"),
        ("judge replay (best of 3)", f"{best * 1000:.0f} ms ({best / max(1, len(inputs)) * 1e6:.0f} us per input)"),
        ("result", f"{result.score} points, {result.ended_by}, rules {result.rules_version}" if result else "none"),
        ("simulation (not judged)", f"{sim_s:.1f} s"),
    ]
    width = max(len(r[0]) for r in rows)
    print("exam judge replay")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    ok = result is not None and result.ended_by == "completed"
    if live_seconds > 0:
        from site_sim.bench.exam_live import measure
        from site_sim.bench.exam_live import rows as live_rows

        print("\nthe live exam vehicle (passlane exam run, simulated car at 10 Hz, real broker and bridge)")
        live = live_rows(measure(seconds=live_seconds))
        w = max(len(r[0]) for r in live)
        for name, value, note in live:
            print(f"  {name:<{w}}  {value:<44}  {note}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run())
