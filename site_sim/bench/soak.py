"""`passlane bench soak`: many vehicles through one lane at high speed; its memory, files and threads stay flat.

The lane controller runs as in `bench lane` (``LaneRig``: real broker, bridge, board firmware on the simulated
world, VIN model loaded), and a scripted inspector takes ``vehicles`` cars through it back to back, each with a
fresh camera frame, photos and a plate issued. Every tenth of the run the lane's RSS, open files and threads are
sampled. "Flat" compares the last sample with the first one taken after a warm-up (the first 5% of the cars or
20, whichever is more): RSS within ``RSS_SLACK_MB``, the same open files and threads (``COUNT_SLACK`` each, for
a connection or worker that happens to be open at the instant).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass

from site_sim.attendant import top_up_magazines
from site_sim.bench.lane import drive_case, show_vin
from site_sim.bench.lane_rig import LaneRig

RSS_SLACK_MB = 4.0
COUNT_SLACK = 2
RSS_TARGET_MB = 120.0  # issue #23: a 2 GB Pi 4 runs the lane, the camera and the OS with room


@dataclass(frozen=True)
class Sample:
    vehicles: int
    rss_mb: float
    open_files: int
    threads: int
    outbox_depth: int
    case_s_median: float  # wall time per case since the previous sample


def _sample(rig: LaneRig, vehicles: int, walls: list[float]) -> Sample:
    p = rig.process
    return Sample(
        vehicles=vehicles,
        rss_mb=p.memory_info().rss / 2**20,
        open_files=p.num_fds(),
        threads=p.num_threads(),
        outbox_depth=int(rig.health()["outbox"]["depth"]),
        case_s_median=statistics.median(walls) if walls else 0.0,
    )


def soak(rig: LaneRig, vehicles: int) -> list[Sample]:
    """Drive ``vehicles`` cars through the rig's lane, sampling at the warm-up and every tenth of the run."""
    warm_up = min(vehicles, max(20, vehicles // 20))
    every = max(1, vehicles // 10)
    samples: list[Sample] = []
    walls: list[float] = []
    for i in range(vehicles):
        car = rig.good[i]
        top_up_magazines(rig.mechanism)
        show_vin(rig.camera, car.vin, i)
        try:
            walls.append(drive_case(rig.http, rig.world, car.owner_id_number, car.vin))
        except TimeoutError as exc:
            raise TimeoutError(f"car {i + 1} of {vehicles}: {exc}") from None
        done = i + 1
        if done == warm_up or (done > warm_up and (done % every == 0 or done == vehicles)):
            samples.append(_sample(rig, done, walls))
            walls = []
    rig.wait_outbox_drained(60)
    return samples


def verdict(samples: list[Sample]) -> tuple[bool, str]:
    """Flat, and why: the last sample against the first after warm-up."""
    first, last = samples[0], samples[-1]
    growth = last.rss_mb - first.rss_mb
    files = last.open_files - first.open_files
    threads = last.threads - first.threads
    flat = growth <= RSS_SLACK_MB and abs(files) <= COUNT_SLACK and abs(threads) <= COUNT_SLACK
    why = (
        f"from car {first.vehicles} to car {last.vehicles}: RSS {growth:+.1f} MB (slack {RSS_SLACK_MB:g}), "
        f"open files {files:+d}, threads {threads:+d} (slack {COUNT_SLACK} each)"
    )
    return flat, why


def run_soak(vehicles: int = 1000, time_scale: float = 200.0) -> int:
    started = time.monotonic()
    try:
        with LaneRig(vehicles, time_scale) as rig:
            try:
                samples = soak(rig, vehicles)
            except Exception:
                print(rig.log_tail(), file=sys.stderr)
                raise
    except Exception as exc:  # noqa: BLE001 - say what failed, as the other benches do
        print(f"soak failed: {type(exc).__name__}: {str(exc)[:1500]}")
        return 1
    print(f"lane soak: {vehicles} vehicles back to back, world x{time_scale:g}, {time.monotonic() - started:.0f} s")
    print(f"{'after car':>9}  {'RSS MB':>7}  {'open files':>10}  {'threads':>7}  {'outbox':>6}  {'s per case':>10}")
    for s in samples:
        print(
            f"{s.vehicles:>9}  {s.rss_mb:>7.1f}  {s.open_files:>10}  {s.threads:>7}  {s.outbox_depth:>6}  {s.case_s_median:>10.2f}"
        )
    flat, why = verdict(samples)
    peak = max(s.rss_mb for s in samples)
    print(f"flat: {'yes' if flat else 'NO'} ({why})")
    print(
        f"peak RSS {peak:.0f} MB; target <= {RSS_TARGET_MB:g} MB (issue #23): {'met' if peak <= RSS_TARGET_MB else 'NOT met'}"
    )
    print(
        f"(cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.2f}: other work on this machine shows in these numbers)"
    )
    return 0 if flat else 1
