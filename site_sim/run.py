"""Drive vehicles through a running site and account for every one of them and every event.

Vehicles arrive as a Poisson stream (simulated time), each takes the lane with
the shortest queue (one open case per station), and plays its `Journey`.
Faults, when asked for, are injected by the world: a plate jam, a board
unplugged, the cloud away. At the end every lane's journal is compared with
what the bridge stored: published, stored, duplicated and lost events.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from edge.stats import percentile
from firmware.sim.control import SimControl
from site_sim.journey import Journey, Outcome, Pictures, Tablet, Vehicle
from site_sim.payment_provider import SimulatedProvider
from site_sim.site import INSPECTOR_PIN, OPS_USER, Site, passlane
from site_sim.summary import SiteSummary
from site_sim.timing import HumanDurations, poisson_arrivals

# Faults the world can inject during a run; "noise" is a property of the cables (Site.line_noise).
FAULTS = ("jam", "unplug", "cloud", "lane-crash", "broker-crash", "noise")
FIRST_FAULT_WITHIN_S = 120.0  # real seconds: whoever watches a demo, open-ended ones too, sees the first fault soon


def fault_delay_s(rng: random.Random, horizon_sim_s: float, speed: float, first: bool) -> float:
    """Real seconds from the start of the traffic to one fault: a random moment between 20% and 60% of the
    arrivals (of at least ten simulated minutes); the run's first fault within FIRST_FAULT_WITHIN_S."""
    window = max(horizon_sim_s, 600.0) / speed
    if first:
        window = min(window, FIRST_FAULT_WITHIN_S / 0.6)
    return rng.uniform(0.2, 0.6) * window


@dataclass
class RunOptions:
    vehicles: int | None = 20
    rate_per_hour: float | None = None  # default: what the lanes can take (about 3 per lane and hour)
    seed: int = 1
    faults: tuple[str, ...] = ()
    fail_inspection_share: float = 0.05
    problem_record_share: float = 0.05
    progress_every_s: float = 5.0
    patience_s: float = 180.0


@dataclass
class LaneState:
    index: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: int = 0


def pick_vehicles(records: list[dict[str, Any]], count: int, opts: RunOptions) -> list[Vehicle]:
    """Mostly cars with complete records; a few with a problem record, a few that fail inspection."""
    rng = random.Random(opts.seed)
    good = [r for r in records if _records_complete(r)]
    bad = [r for r in records if not _records_complete(r)]
    chosen: list[Vehicle] = []
    for i in range(count):
        pool = bad if bad and rng.random() < opts.problem_record_share else good
        rec = pool.pop(rng.randrange(len(pool)))
        chosen.append(
            Vehicle(
                vin=rec["vin"],
                owner_id_number=rec["owner_id_number"],
                seed=opts.seed * 1000 + i,
                fails_inspection=rng.random() < opts.fail_inspection_share,
            )
        )
    return chosen


def _records_complete(rec: dict[str, Any]) -> bool:
    return (
        rec.get("insurance", {}).get("status") == "valid"
        and rec.get("purchase_tax", {}).get("status") in ("paid", "exempt")
        and rec.get("certificate", {}).get("vin") == rec.get("vin")
    )


class SiteRun:
    """One run of vehicles through a started `Site`."""

    def __init__(self, site: Site, opts: RunOptions, durations: HumanDurations | None = None, out: Any = print) -> None:
        self.site = site
        self.opts = opts
        self.durations = durations or HumanDurations()
        self.out = out
        self.lanes = [LaneState(i) for i in range(len(site.lane_parts))]
        self.outcomes: list[Outcome] = []
        self.arrived = 0
        self.fault_log: list[tuple[float, str]] = []
        self.token = ""

    # ------------------------------------------------------------ set-up
    def _ops_token(self) -> str:
        argv = passlane(
            "bridge",
            "user",
            "token",
            OPS_USER,
            "--db",
            str(self.site.bridge_db),
            "--label",
            "demo",
            "--audit-key-file",
            str(self.site.audit_key_file),
        )
        return (
            subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]
        )

    async def run(self, stop: asyncio.Event | None = None) -> SiteSummary:
        """Run until every vehicle is through, or until `stop` is set (Ctrl-C): then in-flight ones are 'unfinished'."""
        stop = stop or asyncio.Event()
        started = time.monotonic()
        self.token = await asyncio.to_thread(self._ops_token)
        records = self.site.reference_vehicles_data()
        count = self.opts.vehicles if self.opts.vehicles is not None else len(records) // 2
        vehicles = pick_vehicles(records, count, self.opts)
        rate = self.opts.rate_per_hour or 3.0 * len(self.lanes)
        arrivals = poisson_arrivals(rate, len(vehicles), self.opts.seed)
        tablets = [
            Tablet(p.tablet_url, p.inspector_id, INSPECTOR_PIN, self.opts.patience_s) for p in self.site.lane_parts
        ]
        for tablet in tablets:
            await tablet.sign_in()
        provider = SimulatedProvider(self.site.dashboard_url, self.site.payment_key_file.read_text().strip().encode())
        speed = self.site.speed
        stop_progress = asyncio.Event()
        progress = asyncio.create_task(self._progress(stop_progress, started))
        faults = self._plan_faults(arrivals[-1] if arrivals else 0.0)
        t0 = time.monotonic()

        async def one(vehicle: Vehicle, at_sim_s: float) -> None:
            await asyncio.sleep(max(0.0, t0 + at_sim_s / speed - time.monotonic()))
            self.arrived += 1
            arrived.append(vehicle)
            pictures = Pictures(vehicle)  # what the cameras will see of it, drawn while it queues
            lane = min(self.lanes, key=lambda s: (s.queued, s.index))
            lane.queued += 1
            try:
                async with lane.lock:
                    parts = self.site.lane_parts[lane.index]
                    with (
                        SimControl("127.0.0.1", parts.io_control) as io,
                        SimControl("127.0.0.1", parts.issuer_control) as issuer,
                    ):
                        journey = Journey(
                            vehicle=vehicle,
                            lane=parts.unit,
                            tablet=tablets[lane.index],
                            io=io,
                            issuer=issuer,
                            camera_dir=parts.camera_dir,
                            provider=provider,
                            speed=speed,
                            durations=self.durations,
                            patience_s=self.opts.patience_s,
                            pictures=pictures,
                        )
                        outcome = await journey.run()
                        self.outcomes.append(outcome)
                        self.out(describe(outcome))
            finally:
                lane.queued -= 1

        arrived: list[Vehicle] = []
        everyone = asyncio.gather(*(one(v, t) for v, t in zip(vehicles, arrivals)))
        stopped = asyncio.create_task(stop.wait())
        either: list[asyncio.Future[Any]] = [everyone, stopped]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not everyone.done():
                everyone.cancel()
                await asyncio.gather(everyone, return_exceptions=True)
                finished = {id(o.vehicle) for o in self.outcomes}
                self.outcomes += [
                    Outcome(v, "-", "unfinished", reason="the demo was stopped")
                    for v in arrived
                    if id(v) not in finished
                ]
            else:
                everyone.result()
        finally:
            stopped.cancel()
            stop_progress.set()
            for task in faults:
                task.cancel()
            await progress
            for tablet in tablets:
                await tablet.close()
            provider.close()
        # stopped on request: the operator waits, so the lanes get a few seconds to drain their outboxes, not a minute
        published, stored, duplicates, lost = await self.account_events(drain_all_s=5.0 if stop.is_set() else None)
        registered = [o for o in self.outcomes if o.outcome == "completed"]
        return SiteSummary.from_outcomes(
            lanes=len(self.lanes),
            speed=speed,
            outcomes=[(o.outcome, o.minutes, o.reason) for o in self.outcomes],
            events_published=published,
            events_stored=stored,
            duplicates=duplicates,
            lost=lost,
            wall_seconds=round(time.monotonic() - started, 1),
            system_added_s_per_vehicle=_median([o.added_real_s for o in registered]),
            machine_s_per_vehicle=_median([o.machine_real_s for o in registered]),
            world_s_per_vehicle=_median([o.world_real_s for o in registered]),
            after_visit_s_per_vehicle=_median([o.after_visit_real_s for o in registered]),
            vin_check_ms=_median([o.vin_check_ms for o in registered if o.vin_check_ms is not None]),
            steps=[o.added_steps for o in registered],
            machine_steps=[o.machine_steps for o in registered],
        )

    # ------------------------------------------------------------ faults
    def _plan_faults(self, horizon_sim_s: float) -> list[asyncio.Task[None]]:
        """One task per fault asked for (the first listed fires within FIRST_FAULT_WITHIN_S); says when each fires."""
        kinds = [kind for kind in self.opts.faults if kind != "noise"]
        rngs = [random.Random(f"{self.opts.seed}-{kind}") for kind in kinds]
        delays = [fault_delay_s(rng, horizon_sim_s, self.site.speed, first=i == 0) for i, rng in enumerate(rngs)]
        if kinds:
            when = sorted(zip(delays, kinds))
            self.out(
                "planned faults (real time from now): "
                + ", ".join(f"{kind} in {int(d) // 60}:{int(d) % 60:02d}" for d, kind in when)
            )
        return [asyncio.create_task(self._fault(kind, rng, delay)) for kind, rng, delay in zip(kinds, rngs, delays)]

    async def _fault(self, kind: str, rng: random.Random, delay_s: float) -> None:
        """Inject one fault of `kind` after `delay_s` real seconds, then let the world recover."""
        speed = self.site.speed
        await asyncio.sleep(delay_s)
        parts = self.site.lane_parts[rng.randrange(len(self.site.lane_parts))]
        self.fault_log.append((time.monotonic(), f"{kind} on {parts.unit}"))
        self.out(f"fault: {kind} ({parts.unit if kind != 'cloud' else 'bridge'})")
        if kind == "jam":
            with SimControl("127.0.0.1", parts.issuer_control) as issuer:
                await asyncio.to_thread(issuer.inject_fault, "jam")
                await asyncio.sleep(300.0 / speed)  # the attendant opens the cover and frees the plate
                await asyncio.to_thread(issuer.clear_fault)
        elif kind == "unplug":
            with SimControl("127.0.0.1", parts.io_control) as io:
                await asyncio.to_thread(io.unplug, 2.0)
        elif kind == "cloud":
            bridge = self.site.processes["bridge"]
            await asyncio.to_thread(bridge.kill)
            await asyncio.sleep(max(2.0, 120.0 / speed))
            await asyncio.to_thread(self.site.start_bridge)
        elif kind == "lane-crash":
            lane = self.site.processes[parts.unit]
            await asyncio.to_thread(lane.kill)  # kill -9: no goodbye, journal as it was
            await asyncio.sleep(max(1.0, 60.0 / speed))
            await asyncio.to_thread(self.site.start_lane, parts)
        elif kind == "broker-crash":
            await asyncio.to_thread(self.site.crash_broker)
            await asyncio.sleep(max(2.0, 60.0 / speed))
            await asyncio.to_thread(self.site.start_broker)
        self.out(f"fault over: {kind}")

    # ------------------------------------------------------------ reporting
    async def _progress(self, stop: asyncio.Event, started: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.opts.progress_every_s)
            except TimeoutError:
                pass
            done = [o for o in self.outcomes if o.outcome == "completed" and o.minutes is not None]
            median = percentile([o.minutes for o in done if o.minutes is not None], 50)
            med = f"{median:.1f} min" if median is not None else "-"
            self.out(
                f"[{time.monotonic() - started:6.0f}s] vehicles in {self.arrived}, done {len(self.outcomes)} "
                f"(registered {len(done)}), median {med} (simulated)"
            )

    async def _bridge(self, path: str) -> Any:
        async with httpx.AsyncClient(
            base_url=self.site.dashboard_url, timeout=30.0, headers={"Authorization": f"Bearer {self.token}"}
        ) as http:
            resp = await http.get(path)
            resp.raise_for_status()
            return resp.json()

    async def account_events(
        self, drain_each_s: float = 60.0, drain_all_s: float | None = None
    ) -> tuple[int, int, int, int]:
        """Wait until each lane's outbox is drained (up to `drain_each_s` per lane, `drain_all_s` in all),
        then compare journals with the bridge's store."""
        published = stored = duplicates = lost = 0
        all_deadline = time.monotonic() + (drain_all_s if drain_all_s is not None else float("inf"))
        for parts in self.site.lane_parts:
            tablet = Tablet(parts.tablet_url, parts.inspector_id, INSPECTOR_PIN)
            await tablet.sign_in()
            deadline = min(time.monotonic() + drain_each_s, all_deadline)
            while True:
                outbox = (await tablet.call("GET", "/api/lane"))["outbox"]
                if outbox["acked_seq"] >= outbox["last_seq"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            await tablet.close()
            last_seq = int(outbox["last_seq"])
            seqs: list[int] = []
            after = 0
            while True:
                page = await self._bridge(f"/api/units/{parts.unit}/events?after={after}&limit=10000")
                if not page:
                    break
                seqs += [int(e["seq"]) for e in page]
                after = seqs[-1]
            seqs = [s for s in seqs if s <= last_seq]  # one cut: the lane may record more while we count
            counts = Counter(seqs)
            published += last_seq
            stored += len(seqs)
            duplicates += sum(n - 1 for n in counts.values() if n > 1)
            lost += sum(1 for s in range(1, last_seq + 1) if s not in counts)
        return published, stored, duplicates, lost


def describe(o: Outcome) -> str:
    """One line per finished vehicle for the live log."""
    if o.outcome == "completed":
        return f"  {o.lane} {o.vehicle.vin}: registered in {o.minutes:.1f} min (VIN read: {o.vin_decision}), plate {o.plate}"
    return f"  {o.lane} {o.vehicle.vin}: {o.outcome}: {o.reason}"


def _median(values: list[float]) -> float | None:
    return None if not values else round(percentile(values, 50) or 0.0, 3)
