"""Simulated time and human durations (pure: numbers in, numbers out).

`speed` is simulated seconds per real second: 60 means one simulated hour
per real minute. People and vehicles take simulated time; the software takes
whatever real time it takes, which the demo reports as system-added time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class SimClock:
    """Converts between real and simulated seconds at a fixed speed."""

    speed: float
    real_start: float

    def sim_seconds(self, real_now: float) -> float:
        return (real_now - self.real_start) * self.speed

    def real_delay(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed


def poisson_arrivals(rate_per_hour: float, count: int, seed: int) -> list[float]:
    """Arrival times in simulated seconds from 0: exponential gaps at the given rate."""
    if rate_per_hour <= 0:
        raise ValueError("arrival rate must be positive")
    rng = random.Random(seed)
    t = 0.0
    times = []
    for _ in range(count):
        t += rng.expovariate(rate_per_hour / 3600.0)
        times.append(t)
    return times


@dataclass(frozen=True)
class HumanDurations:
    """Median simulated seconds of each human step (log-normal spread, sigma)."""

    show_id_card: float = 40
    choose_vehicle: float = 20  # an owner with several pending cars: the inspector finds the one at the lane
    drive_to_station: float = 45
    inspection_item: float = 25
    photo: float = 15
    choose_plate: float = 150
    pay: float = 90
    fit_plates: float = 360
    drive_out: float = 30
    sigma: float = 0.35

    def draw(self, step: str, rng: random.Random) -> float:
        median = getattr(self, step)
        return median * math.exp(rng.gauss(0.0, self.sigma))
