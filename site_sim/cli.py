"""`passlane demo`: a whole registration site on this machine (its benchmark is `passlane bench site`);
`passlane demo exam`: a whole exam site (site_sim/exam_demo.py).

Exit status of `passlane demo`: 0 when every vehicle finished and no event was
lost or duplicated, and 0 when SIGTERM or SIGINT stopped it (at any moment: the
site and every process it started are stopped within seconds, see
site_sim/shutdown.py); 1 when the site did not start or the accounting found
unfinished vehicles or lost or duplicated events. With --keep-running the site
stays up after its vehicles until SIGTERM or SIGINT, and the exit status is the
finished run's.

The site lives in a folder (--dir, or a new temporary one); at the end the demo
says where and how big it is, and removes a temporary one unless --keep is given
or the run failed (its logs are there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import webbrowser
from pathlib import Path

from site_sim.run import FAULTS, FIRST_FAULT_WITHIN_S, RunOptions, SiteRun
from site_sim.shutdown import StopSignals
from site_sim.site import INSPECTOR_PIN, OPS_USER, Site
from site_sim.summary import SiteSummary


def _faults(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown fault {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    return kinds


def print_summary(summary: SiteSummary, out=print) -> None:  # noqa: ANN001
    def minutes(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    share = "-" if summary.share_within_30_min is None else f"{summary.share_within_30_min:.0%}"
    out("")
    out(f"summary ({summary.lanes} lanes, speed {summary.speed:g}x, {summary.wall_seconds:.0f} s wall time)")
    out(
        f"  vehicles {summary.vehicles}: registered {summary.completed}, rejected {summary.rejected}, "
        f"aborted {summary.aborted}, unfinished {summary.unfinished}"
    )
    out(
        f"  registration minutes (simulated): p50 {minutes(summary.p50_minutes)}, p95 {minutes(summary.p95_minutes)}, "
        f"max {minutes(summary.max_minutes)}; within 30 min: {share}"
    )
    out(
        f"  events: published {summary.events_published}, stored {summary.events_stored}, "
        f"duplicates {summary.duplicates}, lost {summary.lost}"
    )
    if summary.system_added_s_per_vehicle is not None:
        out(
            f"  time the software adds per registered vehicle: {summary.system_added_s_per_vehicle:.2f} s real, "
            "median (not the people's time, the machines' own motion or the simulated world's work)"
        )
        shown = [(name, s) for name, s in summary.added_s_by_step.items() if s >= 0.005][:12]
        if shown:
            out("    by step (median real seconds per registered vehicle):")
            for name, s in shown:
                out(f"      {s:7.3f} s  {name}")
    if summary.machine_s_per_vehicle is not None:
        out(
            f"  the machines' own motion per registered vehicle: {summary.machine_s_per_vehicle:.2f} s real, median "
            f"(arms, the car under them, the plate mechanism at {summary.speed:g}x; a pulse never under 50 ms real)"
        )
        for name, s in list(summary.machine_s_by_step.items())[:6]:
            out(f"      {s:7.3f} s  {name}")
    if summary.world_s_per_vehicle is not None:
        out(
            f"  the simulated world's own work per registered vehicle: {summary.world_s_per_vehicle:.2f} s real, "
            "median (its camera's pictures, the simulators' control links)"
        )
    if summary.vin_check_ms is not None:
        out(
            f"  the VIN check in the lane: {summary.vin_check_ms:.0f} ms of the reader's time per registered vehicle, "
            "median (done while the inspector works through the checklist)"
        )
    if summary.after_visit_s_per_vehicle is not None:
        out(
            f"  after a registered car has driven out, the lane notices and closes its case in "
            f"{summary.after_visit_s_per_vehicle:.2f} s real, median (after its visit; in life the next driver "
            "shows an ID card meanwhile, here the lane's next car starts after it)"
        )
    for reason, n in sorted(summary.reasons.items()):
        out(f"  {n} x {reason}")


def _run(ns: argparse.Namespace) -> int:
    """Start the site, drive vehicles through it, stop it; SIGTERM or SIGINT stop it at any moment (exit 0)."""
    if ns.what == "exam":
        from site_sim.exam_demo import run_exam_cli

        return run_exam_cli(ns)
    ns.speed = ns.speed or 60.0
    root = Path(ns.dir) if ns.dir else Path(tempfile.mkdtemp(prefix="passlane-demo-"))
    site = Site(
        root,
        lanes=ns.lanes,
        speed=ns.speed,
        seed=ns.seed,
        reference_vehicles=max(400, 4 * (ns.vehicles or 100)),
        line_noise=0.01 if "noise" in ns.faults else 0.0,
    )
    print(
        f"starting a site with {ns.lanes} lanes in {root} (speed {ns.speed:g}x: one simulated hour per {60 / ns.speed:g} min)",
        flush=True,
    )
    status = 1
    with StopSignals(on_first=site.request_stop) as signals:
        try:
            status = _run_site(ns, site, signals)
            return status
        finally:
            site.stop()
            print("site stopped", flush=True)
            _leave_folder(site.root, given=ns.dir is not None, keep=ns.keep, failed=status != 0)


def _folder_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # gone meanwhile
                pass
    return total


def _leave_folder(root: Path, *, given: bool, keep: bool, failed: bool) -> None:
    """Say where the site's folder is and how big; remove it unless it was given, kept on request or holds a failed run's logs."""
    where = f"site folder {root} ({_folder_bytes(root) / 1e6:.1f} MB)"
    if given or keep or failed:
        why = "given with --dir" if given else "--keep" if keep else f"the run failed: logs in {root / 'logs'}"
        print(f"{where} kept ({why})", flush=True)
        return
    try:
        shutil.rmtree(root)
    except OSError as exc:
        print(f"{where} could not be removed: {exc}", flush=True)
        return
    print(f"{where} removed (--keep keeps it)", flush=True)


def _run_site(ns: argparse.Namespace, site: Site, signals: StopSignals) -> int:
    try:
        site.start()
    except Exception as exc:  # noqa: BLE001 - say what failed; the caller stops what started
        if signals.requested:
            print(f"{signals.name}: stopping the site before it finished starting", flush=True)
            return 0
        print(f"error: the site did not start: {exc}", file=sys.stderr)
        return 1
    ops_password = site.ops_password_file.read_text().strip()
    print(f"dashboard: {site.dashboard_url}/   (user {OPS_USER}, password {ops_password})")
    for parts in site.lane_parts:
        print(f"tablet {parts.unit}: {parts.tablet_url}/   (inspector {parts.inspector_id}, PIN {INSPECTOR_PIN})")
    sys.stdout.flush()
    if not ns.no_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        webbrowser.open(f"{site.dashboard_url}/")
    opts = RunOptions(vehicles=ns.vehicles, rate_per_hour=ns.rate, seed=ns.seed, faults=ns.faults)

    async def main() -> SiteSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def first() -> None:
            site.request_stop()
            loop.call_soon_threadsafe(stop.set)

        def again() -> None:  # a second signal: skip the accounting
            loop.call_soon_threadsafe(task.cancel)

        signals.on_first, signals.on_again = first, again
        if signals.requested:
            stop.set()
        try:
            return await SiteRun(site, opts, out=lambda line: print(line, flush=True)).run(stop)
        finally:
            signals.on_first, signals.on_again = site.request_stop, None

    try:
        summary = asyncio.run(main())
    except (asyncio.CancelledError, Exception) as exc:
        if not signals.requested:
            raise
        print(f"{signals.name}: stopped; the events were not accounted for ({type(exc).__name__})", flush=True)
        return 0
    print_summary(summary)
    if ns.summary_json:
        Path(ns.summary_json).write_text(summary.model_dump_json(indent=2))
        print(f"summary written to {ns.summary_json}")
    if signals.requested:
        print(f"{signals.name}: stopped on request (vehicles on their way are counted as unfinished)", flush=True)
        return 0
    ok = summary.lost == 0 and summary.duplicates == 0 and summary.unfinished == 0
    if ns.keep_running:
        print(f"the site keeps running (dashboard {site.dashboard_url}/): Ctrl-C or SIGTERM stops it", flush=True)
        while not site.stopping:  # the first signal asks the site to stop
            site.processes.stopping.wait(1.0)
        print(f"{signals.name or 'stop'}: stopping the site", flush=True)
    return 0 if ok else 1


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "SIGTERM or SIGINT stop the demo at any moment: vehicles on their way count as unfinished, "
        "every process of the site is stopped within seconds, and the exit status is 0 "
        "(1: the site did not start, or a finished run has unfinished vehicles or lost or duplicated events; "
        "with --keep-running, the finished run's status). "
        "At the end the demo prints the site folder and its size, and removes a temporary one "
        "unless --keep is given or the run failed."
    )
    parser.add_argument(
        "what",
        nargs="?",
        choices=("lanes", "exam"),
        default="lanes",
        help="lanes: a registration site (default); exam: an exam site (--cars, --candidates, --speed)",
    )
    parser.add_argument("--lanes", type=int, default=2, help="lane controllers (default 2)")
    parser.add_argument(
        "--cars", type=int, default=3, help="exam: test cars, each a real exam vehicle unit (default 3)"
    )
    parser.add_argument(
        "--candidates", type=int, default=12, help="exam: candidates of the day, a seeded mix of skill (default 12)"
    )
    parser.add_argument(
        "--vehicles", type=int, default=None, help="stop after this many vehicles (default: until Ctrl-C)"
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="with --vehicles: after them, keep the site (dashboard, tablets) up until Ctrl-C or SIGTERM",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per real second (default 60; exam: the world's speed, default 8)",
    )
    parser.add_argument("--rate", type=float, default=None, help="arrivals per simulated hour (default 3 per lane)")
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the simulated world: the same seed, the same vehicles, arrivals and faults (default 1)",
    )
    parser.add_argument(
        "--faults",
        type=_faults,
        default=(),
        help=f"comma-separated faults, each injected once: {', '.join(FAULTS)} (noise: 1%% of serial bytes "
        f"corrupted all along); the first listed fires within the first {FIRST_FAULT_WITHIN_S / 60:g} minutes "
        "of traffic (real time), the others at random moments later; the demo prints when each fires",
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open the dashboard in a browser")
    parser.add_argument("--summary-json", default=None, help="write the summary as JSON to this file")
    parser.add_argument(
        "--dir",
        default=None,
        help="site folder, kept at the end (default: a new temporary folder, removed at the end unless --keep or the run failed)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary site folder (logs, journals, database) at the end"
    )
    parser.set_defaults(func=_run)
