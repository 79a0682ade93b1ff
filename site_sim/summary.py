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
    system_added_s_per_vehicle: float | None = None
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
    ) -> SiteSummary:
        """outcomes: (outcome, registration minutes in simulated time or None, reason)."""
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
            wall_seconds=wall_seconds,
            reasons=reasons,
        )
