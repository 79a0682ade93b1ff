"""`passlane bench site`: how many vehicles per hour a site sustains at the 30-minute promise.

For a growing arrival rate, a fresh site runs the same number of vehicles;
the table gives per site and per lane the vehicles registered per simulated
hour, the share within 30 minutes, p50/p95 registration minutes, the real
time per vehicle not spent by people (software + sped-up machines), the
events per second the bridge stored, and CPU and memory of every process. A
PNG chart of the curve is written next to the table. The machine and the
speed factor are printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from site_sim.bench.cli import machine_line
from site_sim.run import RunOptions, SiteRun
from site_sim.shutdown import StopSignals
from site_sim.site import Site
from site_sim.summary import SiteSummary


@dataclass
class ProcessLoad:
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0


@dataclass
class LoadSampler:
    """Samples CPU time and RSS of the site's processes (and their children) while a run goes on."""

    site: Site
    interval_s: float = 0.5
    loads: dict[str, ProcessLoad] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _start_cpu: dict[str, float] = field(default_factory=dict)

    def _tree(self) -> dict[str, list[psutil.Process]]:
        out: dict[str, list[psutil.Process]] = {}
        named = {name: p.pid for name, p in self.site.processes.processes.items() if p.pid}
        if self.site.broker.proc is not None:
            named["mosquitto"] = self.site.broker.proc.pid
        for name, pid in named.items():
            try:
                root = psutil.Process(pid)
                out[name] = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return out

    def _sample(self) -> None:
        for name, procs in self._tree().items():
            cpu = rss = 0.0
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    rss += proc.memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    continue
            load = self.loads.setdefault(name, ProcessLoad())
            self._start_cpu.setdefault(name, cpu)
            load.cpu_s = cpu - self._start_cpu[name]
            load.max_rss_mb = max(load.max_rss_mb, rss)

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> LoadSampler:
        self._sample()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@dataclass
class RatePoint:
    rate_per_lane_h: float
    summary: SiteSummary
    sim_hours: float
    bridge_events_per_s: float
    loads: dict[str, ProcessLoad]

    @property
    def registered_per_hour(self) -> float:
        return self.summary.completed / self.sim_hours if self.sim_hours else 0.0

    @property
    def within_promise_per_hour(self) -> float:
        """Vehicles per hour registered within the 30-minute promise: the throughput that counts."""
        return self.registered_per_hour * (self.summary.share_within_30_min or 0.0)


def run_point(
    root: Path,
    lanes: int,
    rate_per_lane_h: float,
    vehicles: int,
    speed: float,
    seed: int,
    signals: StopSignals | None = None,
) -> RatePoint:
    """One arrival rate on a fresh site; SIGTERM/SIGINT (through `signals`) stop the run and the site."""
    site = Site(root, lanes=lanes, speed=speed, reference_vehicles=max(200, 4 * vehicles), seed=seed)
    if signals is not None:
        signals.on_first = site.request_stop
    with site:
        run = SiteRun(
            site,
            RunOptions(
                vehicles=vehicles,
                rate_per_hour=rate_per_lane_h * lanes,
                seed=seed,
                fail_inspection_share=0.0,
                problem_record_share=0.0,
            ),
            out=lambda line: None,
        )

        async def main() -> SiteSummary:
            stop = asyncio.Event()
            if signals is not None:
                loop = asyncio.get_running_loop()

                def first() -> None:
                    site.request_stop()
                    loop.call_soon_threadsafe(stop.set)

                signals.on_first = first
                if signals.requested:
                    stop.set()
            return await run.run(stop)

        started = time.monotonic()
        with LoadSampler(site) as sampler:
            summary = asyncio.run(main())
        wall = time.monotonic() - started
    return RatePoint(
        rate_per_lane_h,
        summary,
        sim_hours=wall * speed / 3600.0,
        bridge_events_per_s=summary.events_stored / wall if wall else 0.0,
        loads=sampler.loads,
    )


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(points: list[RatePoint], lanes: int, speed: float, out=print) -> None:  # noqa: ANN001
    out(
        f"site benchmark: {lanes} lanes, speed {speed:g}x (simulated seconds per real second); machine: {machine_line()}"
    )
    out(
        "arrivals/lane/h  vehicles  registered/h (site, per lane)  within 30 min  within-30/h/lane  p50 min  p95 min  software-added s/vehicle (real)  bridge events/s"
    )
    for p in points:
        s = p.summary
        share = "-" if s.share_within_30_min is None else f"{s.share_within_30_min:.0%}"
        out(
            f"{p.rate_per_lane_h:>15g}  {s.vehicles:>8}  {p.registered_per_hour:>12.1f} {p.registered_per_hour / lanes:>14.1f}"
            f"  {share:>13}  {p.within_promise_per_hour / lanes:>16.1f}  {_fmt(s.p50_minutes):>7}  {_fmt(s.p95_minutes):>7}  {_fmt(s.system_added_s_per_vehicle, '.2f'):>31}"
            f"  {p.bridge_events_per_s:>15.1f}"
        )
    last = points[-1]
    out("")
    out(
        f"CPU and memory per process at the highest arrival rate ({last.rate_per_lane_h:g}/lane/h, "
        f"{last.summary.wall_seconds:.0f} s wall time):"
    )
    out("process                    CPU s   CPU % of one core   max RSS MB")
    for name, load in sorted(last.loads.items()):
        pct = 100.0 * load.cpu_s / last.summary.wall_seconds if last.summary.wall_seconds else 0.0
        out(f"{name:<24} {load.cpu_s:>7.1f}   {pct:>17.1f}   {load.max_rss_mb:>10.0f}")


def save_chart(points: list[RatePoint], lanes: int, speed: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [p.rate_per_lane_h for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(rates, [p.registered_per_hour / lanes for p in points], "o-", label="registered per lane per hour")
    ax.plot(rates, [p.within_promise_per_hour / lanes for p in points], "^-", label="... of them within 30 min")
    ax.plot(rates, rates, ":", color="grey", label="arrivals per lane per hour")
    ax.set_xlabel("arrivals per lane per simulated hour")
    ax.set_ylabel("vehicles per lane per hour")
    ax2 = ax.twinx()
    ax2.plot(
        rates,
        [100 * (p.summary.share_within_30_min or 0.0) for p in points],
        "s--",
        color="tab:red",
        label="share within 30 min (%)",
    )
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("% registered within 30 min", color="tab:red")
    ax.set_title(f"PassLane site: {lanes} lanes, speed {speed:g}x")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def run_bench(ns: argparse.Namespace) -> int:
    lanes = ns.lanes
    speed = ns.speed
    vehicles = ns.vehicles or 12
    rates = [2.0, 4.0, 6.0, 8.0]
    points = []
    with tempfile.TemporaryDirectory(prefix="passlane-site-bench-") as tmp, StopSignals() as signals:
        for i, rate in enumerate(rates):
            try:
                points.append(
                    run_point(Path(tmp) / f"rate-{i}", lanes, rate, vehicles, speed, seed=ns.seed + i, signals=signals)
                )
            except Exception:
                if not signals.requested:
                    raise
            if signals.requested:
                print(f"{signals.name}: benchmark stopped; no table", flush=True)
                return 0
    print_table(points, lanes, speed)
    chart = save_chart(points, lanes, speed, Path("var/bench/site-throughput.png").resolve())
    print(f"\nchart: {chart}")
    return 0
