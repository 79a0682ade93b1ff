"""Properties of the vehicle board's pure core under hypothesis: the input debouncer (the I/O board's
`Debouncer` with the vehicle board's symmetric DEBOUNCE_MS), the turn lamp's blink-to-on/off, and the
engine speed from tach pulses, with a control loop whose period wanders as a real one does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import lanebus as lb
from firmware.io_board import Debouncer
from firmware.ticks import ticks_add
from firmware.vehicle_board import (
    DEBOUNCE_MS,
    ENGINE_RUNNING_RPM,
    ENGINE_STOPPED_RPM,
    PULSE_COUNT_MASK,
    RPM_WINDOW_MS,
    SWITCH_INPUTS,
    TURN_OFF_MS,
    VehicleLogic,
    rpm_from_pulses,
    rpm_report_step,
)

START = (1 << 30) - 3000  # the tick counter wraps during every run
IGNITION = 1 << lb.SIG_IGNITION
LEFT = 1 << lb.SIG_TURN_LEFT

segments = st.lists(st.tuples(st.integers(0, (1 << SWITCH_INPUTS) - 1), st.integers(1, 120)), min_size=1, max_size=25)
loop_steps = st.lists(st.integers(1, 9), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(segments, loop_steps)
def test_debounced_inputs_change_only_after_a_stable_level_and_never_miss_one(segs, steps):
    deb = Debouncer(SWITCH_INPUTS, DEBOUNCE_MS, DEBOUNCE_MS)
    now = START
    raw = segs[0][0]
    out = deb.update(raw, now)
    since = [now] * SWITCH_INPUTS  # per bit: the first sample at which raw showed its present value
    k = 0
    samples: list[tuple[int, int, int]] = []
    for word, duration in segs:
        held = 0
        while held < duration:
            step = steps[k % len(steps)]
            k += 1
            held += step
            now = ticks_add(now, step)
            for i in range(SWITCH_INPUTS):
                if (word ^ raw) >> i & 1:
                    since[i] = now
            raw = word
            new = deb.update(raw, now)
            for i in range(SWITCH_INPUTS):
                if (new ^ out) >> i & 1:
                    # a change only to the level raw has shown for DEBOUNCE_MS without a break
                    assert (new >> i & 1) == (raw >> i & 1)
                    assert (now - since[i]) & ((1 << 30) - 1) >= DEBOUNCE_MS
            out = new
            samples.append((now, raw, out))
    # a level held for DEBOUNCE_MS plus one loop step is always taken
    for i in range(SWITCH_INPUTS):
        if (now - since[i]) & ((1 << 30) - 1) >= DEBOUNCE_MS + max(steps):
            assert (out >> i & 1) == (raw >> i & 1)


@settings(max_examples=80, deadline=None)
@given(st.floats(1.0, 2.0), st.floats(0.3, 0.7), st.integers(1, 8), loop_steps)
def test_a_flashing_lamp_is_one_on_then_one_off_turn_off_ms_after_it_was_last_lit(hz, lit_fraction, flashes, steps):
    """60-120 flashes a minute, lit 30-70 % of the period: one `on` at the first flash, one `off` after."""
    period = 1000.0 / hz
    logic = VehicleLogic(START, 0)
    now = START
    logic.update(now, 0, 0)
    t = 0.0
    k = 0
    reports: list[tuple[float, int]] = []
    last_lit = None
    first_lit = None
    while t < flashes * period + 2 * TURN_OFF_MS:
        step = steps[k % len(steps)]
        k += 1
        t += step
        now = ticks_add(now, step)
        lit = t < flashes * period and (t % period) < lit_fraction * period
        if lit:
            last_lit = t
            first_lit = t if first_lit is None else first_lit
        logic.update(now, LEFT if lit else 0, 0)
        while len(logic.events):
            _, signal, _, value, _ = logic.events.pop()
            assert signal == lb.SIG_TURN_LEFT
            reports.append((t, value))
    assert [v for _, v in reports] == [1, 0]
    assert first_lit is not None and last_lit is not None
    on_t, off_t = reports[0][0], reports[1][0]
    assert DEBOUNCE_MS <= on_t - first_lit <= DEBOUNCE_MS + 2 * max(steps)
    assert TURN_OFF_MS <= off_t - last_lit <= TURN_OFF_MS + DEBOUNCE_MS + 2 * max(steps)


PPR_X10 = st.sampled_from((5, 10, 15, 20, 30, 40, 60, 80, 120))


def _engine(rpm: float, ppr_x10: int, steps: list[int], ms: int, phase: float) -> tuple[VehicleLogic, list]:
    """Run the core `ms` with a steady engine; (core, reports of the last 10 s) (engine speed and running)."""
    logic = VehicleLogic(START, 0, ppr_x10)
    now = START
    logic.update(now, IGNITION, 0)
    t = 0
    k = 0
    pulses = phase
    late: list[tuple[int, int, int]] = []
    while t < ms:
        step = steps[k % len(steps)]
        k += 1
        t += step
        now = ticks_add(now, step)
        pulses += rpm / 60000 * ppr_x10 / 10 * step
        logic.update(now, IGNITION, int(pulses) & PULSE_COUNT_MASK)
        while len(logic.events):
            _, signal, hi, lo, _ = logic.events.pop()
            if t > ms - 10_000:
                late.append((t, signal, hi << 8 | lo))
    return logic, late


@settings(max_examples=60, deadline=None)
@given(st.integers(600, 7000), PPR_X10, loop_steps, st.floats(0, 1))
def test_a_steady_engine_is_measured_to_a_pulse_and_rarely_reported(rpm, ppr_x10, steps, phase):
    logic, late = _engine(rpm, ppr_x10, steps, 13_000, phase)
    one_pulse = rpm_from_pulses(1, RPM_WINDOW_MS, ppr_x10)
    assert abs(logic.tach.rpm - rpm) <= one_pulse + 1
    # a report moves when two readings in a row are a step away, and readings are within a pulse
    assert abs(logic.rpm_reported - rpm) <= rpm_report_step(ppr_x10) + one_pulse + 1
    assert logic.signals & (1 << lb.SIG_ENGINE_RUNNING)
    # 10 s at steady speed: 100 computations and up to 14 000 pulses, a handful of reports at most
    assert len(late) <= 5, late
    assert all(signal == lb.SIG_ENGINE_RPM for _, signal, _ in late)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, ENGINE_STOPPED_RPM - 80), PPR_X10, loop_steps)
def test_an_engine_below_the_stopped_speed_is_never_running(rpm, ppr_x10, steps):
    """Cranking (or stalled): whatever the tach resolution, never `running` below the stopped threshold,
    once the window is full."""
    logic, late = _engine(rpm, ppr_x10, steps, 11_000, 0.0)
    one_pulse = rpm_from_pulses(1, RPM_WINDOW_MS, ppr_x10)
    if rpm + one_pulse < ENGINE_RUNNING_RPM:
        assert not logic.signals & (1 << lb.SIG_ENGINE_RUNNING)
        assert (lb.SIG_ENGINE_RUNNING, 1) not in [(s, v) for _, s, v in late]
