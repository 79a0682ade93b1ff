"""The barrier safety rules as properties over random vehicle / pedestrian /
command schedules.  The I/O board's pure control core (firmware.io_board.IoLogic)
runs against the simulated world's physics (firmware.sim.world.IoWorld) with
a simulated clock in 5 ms steps, as the firmware loop runs: fast, no threads.

 A. no close starts while the loop, the beam or the edge reports presence
    (beyond the debounce/reaction window of one debounce period + one step);
 B. a closing arm reverses when presence appears: it never keeps travelling
    down once presence has lasted longer than the reaction window;
 C. silence from the host never closes a barrier: every start of a close
    coincides with a CLOSE command the host sent; with no commands, no arm
    ever moves down.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import lanebus as lb
from firmware.io_board import DEBOUNCE_ON_MS, IoLogic
from firmware.link import LOOP_PERIOD_MS
from firmware.sim.world import IoWorld
from firmware.ticks import TICKS_MAX, ticks_add

STEP = LOOP_PERIOD_MS
REACTION_MS = DEBOUNCE_ON_MS + 2 * STEP
HORIZON_MS = 30_000

ACTIONS = ("open", "close", "close", "stop", "arrive", "pass", "leave", "pedestrian", "edge", "estop")
schedule = st.lists(
    st.tuples(
        st.integers(0, HORIZON_MS // STEP - 1).map(lambda k: k * STEP),
        st.sampled_from(ACTIONS),
        st.sampled_from(lb.BARRIERS),
        st.floats(0.05, 3.0),
    ),
    max_size=40,
)


def simulate(actions, host_silent_after_ms=None):
    world = IoWorld()
    logic = IoLogic()
    now = TICKS_MAX - 7_000  # the tick counter wraps during the run
    by_time: dict[int, list] = {}
    for a in actions:
        by_time.setdefault(a[0], []).append(a)
    close_starts: list[tuple[int, str]] = []
    presence_since: dict[str, int | None] = dict.fromkeys(lb.BARRIERS)
    violations: list[str] = []
    for t in range(0, HORIZON_MS + 5_000, STEP):
        world.advance(t / 1000)
        for name, b in world.barriers.items():
            if b.presence():
                if presence_since[name] is None:
                    presence_since[name] = t
            else:
                presence_since[name] = None
            # B: travelling down with presence older than the reaction window
            ps = presence_since[name]
            if b.direction < 0 and ps is not None and t - ps > REACTION_MS:
                violations.append(f"B: {name} still closing {t - ps} ms after presence at t={t}")
        now = ticks_add(now, STEP)
        logic.update(now, world.input_word())
        for _, action, barrier, x in by_time.get(t, []):
            i = lb.BARRIERS.index(barrier)
            wb = world.barriers[barrier]
            if action in ("open", "close", "stop"):
                if host_silent_after_ms is not None and t >= host_silent_after_ms:
                    continue
                if action == "open":
                    logic.barriers[i].command_open(now, logic.estop)
                elif action == "close":
                    res, _ = logic.barriers[i].command_close(now, logic.estop)
                    if res == lb.OK:
                        close_starts.append((t, barrier))
                else:
                    logic.barriers[i].command_stop(now)
            else:
                try:
                    if action == "arrive":
                        wb.arrive(world.t)
                    elif action == "pass":
                        wb.want_pass(world.t)
                    elif action == "leave":
                        wb.leave(world.t)
                    elif action == "pedestrian":
                        wb.block_beam(world.t, x)
                    elif action == "edge":
                        wb.press_edge(world.t)
                    else:
                        press_estop(world, x)
                except ValueError:
                    pass  # not possible in this world state (no car to leave, ...)
        world.set_relays(logic.relays())
    for e in world.log.entries:
        if e["event"] != "arm_closing":
            continue
        t_ms = round(e["t"] * 1000)
        # C: a close starts only in the step of an accepted host CLOSE
        if (t_ms, e["barrier"]) not in close_starts:
            violations.append(f"C: {e['barrier']} started closing at {t_ms} ms without a host CLOSE")
        # A: ... and never over presence older than the reaction window
        ps = presence_since_at(world, e["barrier"], t_ms)
        if ps is not None and t_ms - ps > REACTION_MS:
            violations.append(f"A: {e['barrier']} close started over presence since {ps} ms (t={t_ms})")
    violations += [f"world: {e}" for e in world.log.entries if e["event"] == "arm_struck_presence"]
    return world, violations


def press_estop(world, seconds):
    world.set_estop(True)
    world.tl.at(world.t + seconds, lambda tt: world.set_estop(False))


def presence_since_at(world, barrier, t_ms):
    """When the current presence period began at t_ms (from the world log), or None."""
    state = {"loop": False, "beam": False, "edge": False}
    since = None
    for e in world.log.entries:
        et = round(e["t"] * 1000)
        if et > t_ms:
            break
        if e.get("barrier") != barrier:
            continue
        before = any(state.values())
        if e["event"] == "loop":
            state["loop"] = e["occupied"]
        elif e["event"] == "beam":
            state["beam"] = e["blocked"]
        elif e["event"] == "edge":
            state["edge"] = e["pressed"]
        else:
            continue
        now = any(state.values())
        if now and not before:
            since = et
        elif not now:
            since = None
    return since


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule)
def test_barrier_safety_rules_hold_for_random_schedules(actions):
    _, violations = simulate(actions)
    assert violations == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule, st.integers(0, HORIZON_MS))
def test_host_silence_never_closes_a_barrier(actions, silent_after):
    world, violations = simulate(actions, host_silent_after_ms=silent_after)
    assert violations == []
    late = [e for e in world.log.entries if e["event"] == "arm_closing" and e["t"] * 1000 > silent_after + STEP]
    assert late == []


def test_vehicle_passing_under_open_arm_then_close_completes():
    actions = [
        (0, "open", "entry", 0),
        (100, "arrive", "entry", 0),
        (2500, "pass", "entry", 0),
        (2600, "close", "entry", 0),
        (8000, "close", "entry", 0),
    ]
    world, violations = simulate(actions)
    assert violations == []
    assert world.barriers["entry"].vehicles_passed == 1
    assert world.barriers["entry"].arm_state() == "closed"


def test_pedestrian_in_beam_during_close_reverses_the_arm():
    actions = [(0, "open", "exit", 0), (3000, "close", "exit", 0), (3500, "pedestrian", "exit", 1.0)]
    world, violations = simulate(actions)
    assert violations == []
    ev = [e["event"] for e in world.log.entries if e.get("barrier") == "exit" and e["event"].startswith("arm_")]
    assert ev[:4] == ["arm_opening", "arm_open", "arm_closing", "arm_opening"]
    assert world.barriers["exit"].arm_state() == "open"  # and it stays open: nobody asked to close again
