"""The one `passlane` console script.

Each component owns its subcommands in its own `cli` module exposing
``register(parser: argparse.ArgumentParser) -> None``; this dispatcher only
knows their names and imports the one that is asked for, so `passlane sim`
never pays for loading onnxruntime and `passlane vin` never loads FastAPI.
A registered parser sets ``func`` (a callable taking the parsed namespace and
returning an exit status) on its leaf subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("firmware.sim.cli", "run simulated lane-bus boards (real firmware, simulated world)"),
    "board": ("edge.lanebus.cli", "talk to a lane-bus board from the host (status, barrier commands)"),
    "vin": ("vision.cli", "read VINs from images; synthesise data; train and benchmark the models"),
    "lane": ("lane_controller.cli", "run and check a lane controller"),
    "bridge": ("cloud_bridge.cli", "run the cloud bridge; reference data, users, audit"),
    "pki": ("edge.pki_cli", "site CA, per-unit certificates and broker accounts"),
    "gnss": ("exam_vehicle.gnss.cli", "read a GNSS receiver's log or live port (NMEA and UBX) as position epochs"),
    "exam": (
        "exam_vehicle.cli",
        "the exam vehicle: run the unit on a test car, check a course, judge a recorded track",
    ),
    "doctor": (
        "edge.doctor",
        "check a lane or exam vehicle on site: config, CA, broker login, boards, disk, clock, journal",
    ),
    "firmware": (
        "edge.firmware_flash",
        "put this installation's firmware on a Pico (mpremote) and check the board's HELLO (firmware/README.md)",
    ),
    "bundle": ("edge.bundle", "build the offline install bundle for the units of one architecture (docs/deploy.md)"),
    "demo": ("site_sim.cli", "run a whole simulated registration site on this machine"),
    "bench": (
        "site_sim.bench.cli",
        "run the benchmarks (all, or one of board, vin, gnss, lane, soak, bridge, exam, exam-site, site) and print their tables",
    ),
}


def _version() -> str:
    try:
        return importlib.metadata.version("passlane")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<8} {text}" for name, (_, text) in SUBCOMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="passlane",
        usage="passlane [-h] [--version] COMMAND ...",
        description="PassLane drive-through registration.\n\ncommands:\n" + lines,
        epilog="`passlane COMMAND -h` shows a command's own options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"passlane {_version()}", help="print the installed version and exit"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if args else 2
    if args[0] == "--version":
        print(f"passlane {_version()}")
        return 0
    name = args[0]
    if name not in SUBCOMMANDS:
        _top_parser().error(f"unknown command {name!r}; choose one of: {', '.join(SUBCOMMANDS)}")
    module_name, text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"passlane {name}", description=text)
    module.register(parser)
    ns = parser.parse_args(args[1:])
    func = getattr(ns, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(ns) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
