"""`passlane bench [board|vin|gnss|lane|soak|bridge|exam|exam-site|site]`: the benchmarks, with the machine stated.

Without a name every benchmark runs, each as `passlane bench <name>` in a child
process so one component's imports, threads and memory never skew another's
figures. The tables are printed as they come; the exit status is non-zero if
any benchmark failed to run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

BENCHES: list[tuple[str, str]] = [
    ("lane bus", "board"),
    ("VIN reader", "vin"),
    ("GNSS reader", "gnss"),
    ("lane controller", "lane"),
    ("lane soak", "soak"),
    ("cloud bridge", "bridge"),
    ("exam vehicle", "exam"),
    ("exam site", "exam-site"),
    ("whole site", "site"),
]


def machine_line() -> str:
    """One line naming the machine, so no figure travels without it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def _run_all(ns: argparse.Namespace) -> int:
    print(f"machine: {machine_line()}")
    print(f"date:    {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    failed: list[str] = []
    for title, name in BENCHES:
        if ns.only and not any(word in title or word == name for word in ns.only):
            continue
        print(f"\n=== {title}: passlane bench {name} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", "edge.cli", "bench", name])
        print(f"--- {title}: exit {rc}, {time.monotonic() - started:.0f} s", flush=True)
        if rc != 0:
            failed.append(title)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
        return 1
    return 0


def _board(ns: argparse.Namespace) -> int:
    from site_sim.bench.lanebus import run

    return run(ns.url, ns.n, not ns.no_paced)


def _vin(ns: argparse.Namespace) -> int:
    from site_sim.bench.vin import run

    return run(n_crops=ns.crops, n_frames=ns.frames)


def _gnss(ns: argparse.Namespace) -> int:
    from site_sim.bench.gnss import run

    return run(min_seconds=ns.seconds)


def _lane(ns: argparse.Namespace) -> int:
    from site_sim.bench.lane import run_bench

    return run_bench(cases=ns.cases, idle_s=ns.idle)


def _soak(ns: argparse.Namespace) -> int:
    from site_sim.bench.soak import run_soak

    return run_soak(vehicles=ns.vehicles, time_scale=ns.speed)


def _bridge(ns: argparse.Namespace) -> int:
    from site_sim.bench.bridge import main

    return main(ns)


def _exam(ns: argparse.Namespace) -> int:
    from site_sim.bench.exam import run

    return run(minutes=ns.minutes, live_seconds=ns.live_seconds)


def _exam_site(ns: argparse.Namespace) -> int:
    from site_sim.bench.exam_site import run

    return run(positions=ns.positions, seconds=ns.seconds)


def _site(ns: argparse.Namespace) -> int:
    from site_sim.bench.site import run_bench

    return run_bench(ns)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="with no benchmark named: run only those whose title or name contains this word",
    )
    parser.set_defaults(func=_run_all)
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK")
    p = sub.add_parser("board", help="lane bus: command round-trip latency vs. 115200-baud wire time")
    p.add_argument("--url", default=None, help="measure this board instead of starting simulators")
    p.add_argument("--n", type=int, default=300, help="commands per run")
    p.add_argument("--no-paced", action="store_true", help="skip the 115200-paced simulator run")
    p.set_defaults(func=_board)
    p = sub.add_parser("vin", help="VIN reader: accuracy and latency tables, side by side with RapidOCR")
    p.add_argument("--crops", type=int, default=200, help="held-out synthetic crops")
    p.add_argument("--frames", type=int, default=50, help="synthetic 1280x960 scenes")
    p.set_defaults(func=_vin)
    p = sub.add_parser(
        "gnss", help="GNSS reader: epochs per second on the shared receiver logs, side by side with pyubx2"
    )
    p.add_argument("--seconds", type=float, default=1.0, help="reading time per log and reader")
    p.set_defaults(func=_gnss)
    p = sub.add_parser(
        "lane", help="lane controller: system-added time per case, RSS, idle CPU, publish-to-ack latency"
    )
    p.add_argument("--cases", type=int, default=30, help="cases to run")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    p.set_defaults(func=_lane)
    p = sub.add_parser("soak", help="lane controller: RSS, open files and threads over many vehicles (flat or not)")
    p.add_argument("--vehicles", type=int, default=1000, help="vehicles back to back")
    p.add_argument("--speed", type=float, default=200.0, help="how much faster than real the simulated world moves")
    p.set_defaults(func=_soak)
    p = sub.add_parser("bridge", help="cloud bridge: ingest, look-up and plate-reservation benchmarks")
    p.add_argument("--seconds", type=float, default=8.0, help="publishing time per ingest run")
    p.add_argument("--lanes", type=int, default=8, help="simulated lanes K")
    p.add_argument("--quick", action="store_true", help="short runs (for tests)")
    p.add_argument(
        "--only",
        dest="only_parts",
        help="comma list of sqlite,packed,sqlite2,pg1,pg2,lookups (default all; the broker-only row always runs)",
    )
    p.set_defaults(func=_bridge)
    p = sub.add_parser(
        "exam", help="exam vehicle: judge replay of a 15-minute exam; the live unit's CPU and event latency at 10 Hz"
    )
    p.add_argument("--minutes", type=float, default=15.0, help="length of the replayed exam")
    p.add_argument(
        "--live-seconds", type=float, default=120.0, help="seconds of live driving against a unit process (0: skip)"
    )
    p.set_defaults(func=_exam)
    p = sub.add_parser(
        "exam-site",
        help="exam site: a car's position to the console's map; the bridge with 20 cars at 10 Hz beside lanes",
    )
    p.add_argument("--positions", type=int, default=300, help="positions of one car at 10 Hz to time to the map")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of lane load without and with the cars")
    p.set_defaults(func=_exam_site)
    p = sub.add_parser("site", help="whole site: registration times and the software's share at several arrival rates")
    p.add_argument("--lanes", type=int, default=2, help="lane controllers")
    p.add_argument("--vehicles", type=int, default=None, help="vehicles per point (default 12)")
    p.add_argument("--speed", type=float, default=120.0, help="simulated seconds per real second")
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated world (default 1)")
    p.set_defaults(func=_site)
