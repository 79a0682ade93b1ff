"""The demo's summary: what happened to every vehicle and every event."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from edge.stats import percentile


class SiteSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lanes: int
    speed: float
    vehicles: int
    completed: int
    rejected: int
    aborted: int
    unfinished: int
    p50_minutes: float | None
    p95_minutes: float | None
    max_minutes: float | None
    share_within_30_min: float | None
    events_published: int
    events_stored: int
    duplicates: int
    lost: int
    # the real time the software adds to a registered vehicle's visit (median): not people's, machines' or the world's
    system_added_s_per_vehicle: float | None = None
    # the machines' own motion in the visit (arms, the car under them, the plate mechanism), median real seconds
    machine_s_per_vehicle: float | None = None
    # the simulated world's own work in the visit (camera pictures, glances at the arms), median real seconds
    world_s_per_vehicle: float | None = None
    # after a registered car has driven out: the lane's time to notice it and close the case (median real s)
    after_visit_s_per_vehicle: float | None = None
    # the reader's time for a registered car's VIN check, in the lane (median ms; done while the inspector works)
    vin_check_ms: float | None = None
    # per step of a registered vehicle's visit: the median real seconds the software added in it
    added_s_by_step: dict[str, float] = {}
    # per step: the median real seconds the machines were moving in it
    machine_s_by_step: dict[str, float] = {}
    wall_seconds: float
    reasons: dict[str, int] = {}

    @classmethod
    def from_outcomes(
        cls,
        *,
        lanes: int,
        speed: float,
        outcomes: list[tuple[str, float | None, str | None]],
        events_published: int,
        events_stored: int,
        duplicates: int,
        lost: int,
        wall_seconds: float,
        system_added_s_per_vehicle: float | None = None,
        machine_s_per_vehicle: float | None = None,
        world_s_per_vehicle: float | None = None,
        after_visit_s_per_vehicle: float | None = None,
        vin_check_ms: float | None = None,
        steps: list[dict[str, float]] | None = None,
        machine_steps: list[dict[str, float]] | None = None,
    ) -> SiteSummary:
        """outcomes: (outcome, registration minutes in simulated time or None, reason); steps: per registered
        vehicle, the real seconds the software added in each step of its visit (a step it skipped counts 0);
        machine_steps: likewise, the seconds the machines were moving in each step."""
        minutes = [m for o, m, _ in outcomes if o == "completed" and m is not None]
        reasons: dict[str, int] = {}
        for outcome, _, reason in outcomes:
            if outcome in ("rejected", "aborted", "unfinished"):
                key = f"{outcome}: {reason or 'no reason given'}"
                reasons[key] = reasons.get(key, 0) + 1
        count = lambda name: sum(1 for o, _, _ in outcomes if o == name)  # noqa: E731
        return cls(
            lanes=lanes,
            speed=speed,
            vehicles=len(outcomes),
            completed=count("completed"),
            rejected=count("rejected"),
            aborted=count("aborted"),
            unfinished=count("unfinished"),
            p50_minutes=percentile(minutes, 50),
            p95_minutes=percentile(minutes, 95),
            max_minutes=max(minutes) if minutes else None,
            share_within_30_min=(sum(1 for m in minutes if m <= 30.0) / len(minutes)) if minutes else None,
            events_published=events_published,
            events_stored=events_stored,
            duplicates=duplicates,
            lost=lost,
            system_added_s_per_vehicle=system_added_s_per_vehicle,
            machine_s_per_vehicle=machine_s_per_vehicle,
            world_s_per_vehicle=world_s_per_vehicle,
            after_visit_s_per_vehicle=after_visit_s_per_vehicle,
            vin_check_ms=vin_check_ms,
            added_s_by_step=_median_by_step(steps or []),
            machine_s_by_step={k: v for k, v in _median_by_step(machine_steps or []).items() if v > 0},
            wall_seconds=wall_seconds,
            reasons=reasons,
        )


def _median_by_step(steps: list[dict[str, float]]) -> dict[str, float]:
    """Each step's median over the vehicles (0 for a vehicle that skipped it), largest first."""
    names = {name for one in steps for name in one}
    medians = {name: round(percentile([one.get(name, 0.0) for one in steps], 50) or 0.0, 3) for name in names}
    return dict(sorted(medians.items(), key=lambda kv: (-kv[1], kv[0])))
