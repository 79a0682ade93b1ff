"""`passlane bench`: every component's benchmark, one after another, with the machine stated.

Each benchmark is its component's own `passlane <component> bench` command, run
in a child process so one component's imports, threads and memory never skew
another's figures. The tables are printed as they come; the exit status is
non-zero if any benchmark failed to run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

BENCHES: list[tuple[str, list[str]]] = [
    ("lane bus (issue 2)", ["board", "bench"]),
    ("VIN reader (issue 3)", ["vin", "bench"]),
    ("lane controller (issue 4)", ["lane", "bench"]),
    ("cloud bridge (issue 5)", ["bridge", "bench"]),
    ("whole site (issue 6)", ["demo", "bench"]),
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


def _run(ns: argparse.Namespace) -> int:
    print(f"machine: {machine_line()}")
    print(f"date:    {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    failed: list[str] = []
    for title, args in BENCHES:
        if ns.only and not any(word in title for word in ns.only):
            continue
        print(f"\n=== {title}: passlane {' '.join(args)} ===", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", "edge.cli", *args])
        print(f"--- {title}: exit {rc}, {time.monotonic() - started:.0f} s", flush=True)
        if rc != 0:
            failed.append(title)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
        return 1
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", action="append", default=[], help="run only benchmarks whose title contains this word")
    parser.set_defaults(func=_run)
