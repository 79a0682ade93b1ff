"""A whole site under faults: kill -9 of a lane controller, of the bridge and of Mosquitto at random
moments, a board unplugged and back, a plate jam, and 1% corrupted bytes on every serial link.

Nothing is lost, nothing is duplicated, no plate number is made twice, every vehicle's case is
registered or ends with a reason, and no barrier arm ever moved down onto a vehicle.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from site_helpers import (
    barrier_safety_violations,
    bridge_events,
    comparable,
    issued_plates,
    lane_journal_events,
    run_vehicles,
)

from site_sim.run import FAULTS, RunOptions
from site_sim.site import Site

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_faults_lose_nothing_duplicate_nothing_and_never_close_on_a_vehicle(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", lanes=2, speed=300, reference_vehicles=100, seed=11, line_noise=0.01)
    log: list[str] = []
    with site:
        run, summary = run_vehicles(
            site,
            RunOptions(
                vehicles=12,
                seed=11,
                faults=FAULTS,
                rate_per_hour=8,
                fail_inspection_share=0.0,
                problem_record_share=0.0,
                patience_s=90,
            ),
            log,
        )
        fault_lines = [line for line in log if line.startswith("fault")]
        assert len([f for f in fault_lines if f.startswith("fault over")]) == len(FAULTS) - 1, log

        assert summary.vehicles == 12
        assert summary.unfinished == 0, [o.reason for o in run.outcomes if o.outcome == "unfinished"]
        assert all(o.reason for o in run.outcomes if o.outcome != "completed")
        assert summary.completed >= 6, summary.reasons
        assert (summary.lost, summary.duplicates) == (0, 0)
        assert summary.events_published == summary.events_stored

        for parts in site.lane_parts:
            lane = [comparable(e) for e in lane_journal_events(site, parts.unit)]
            assert [comparable(e) for e in bridge_events(site, run.token, parts.unit)] == lane

        pairs = Counter(issued_plates(site))
        assert set(pairs.values()) <= {2}, f"a number was made more than once: {pairs}"
        assert {o.plate for o in run.outcomes if o.outcome == "completed"} <= set(pairs)
        assert barrier_safety_violations(site) == []
