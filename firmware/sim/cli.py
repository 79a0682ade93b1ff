"""`passlane sim io-board|plate-issuer|vehicle-board --listen HOST:PORT [--control HOST:PORT] ...`"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _run(ns: argparse.Namespace) -> int:
    from firmware.sim.server import SimBoardServer

    host, port = ns.listen
    ctl_port = None
    if ns.control:
        ctl_host, ctl_port = ns.control
        if ctl_host != host:
            print("--control must use the same host as --listen", file=sys.stderr)
            return 2
    sim = SimBoardServer(
        ns.kind,
        host,
        port,
        ctl_port,
        time_scale=ns.time_scale,
        world_log=ns.world_log,
        baud=ns.baud,
        board_id=ns.board_id,
        line_noise=ns.line_noise,
        journal_path=ns.journal,
        pulses_per_rev=getattr(ns, "pulses_per_rev", 2.0),
    )
    sim.start()
    ctl = f" control={host}:{sim.control_port}" if sim.control_port is not None else ""
    pace = f"paced at {ns.baud} baud" if ns.baud else "unpaced"
    print(f"sim {ns.kind} board_id={sim.board_id} serial={sim.url}{ctl} time_scale={ns.time_scale} {pace}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="BOARD")
    for kind, text in (
        ("io-board", "simulated I/O board (two barriers, lights, loops, photo-eyes)"),
        ("plate-issuer", "simulated plate issuer (magazines, feeder, printer, tray)"),
        (
            "vehicle-board",
            "simulated test car (belt, doors, gear, pedals, flashing turn lamps, "
            "ignition, engine tach) for the exam vehicle's vehicle board",
        ),
    ):
        p = sub.add_parser(kind, help=text, description=text)
        p.add_argument(
            "--listen",
            type=_hostport,
            default=("127.0.0.1", 0),
            help="serve the board's serial byte stream here (pyserial socket://HOST:PORT); "
            "port 0 picks a free one (printed on start)",
        )
        p.add_argument(
            "--control", type=_hostport, default=None, help="JSON-lines control port for the simulated world"
        )
        p.add_argument("--world-log", default=None, help="append every world event (JSON lines) here")
        p.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="world runs this many times faster than real time (arm travel, vehicles, "
            "mechanism); the firmware's own clock stays real time. The vehicle-board's car "
            "always runs in real time (its lamps and tach are timed by the firmware)",
        )
        p.add_argument(
            "--line-noise",
            type=float,
            default=0.0,
            metavar="P",
            help="corrupt each byte on the serial link with probability P (a noisy cable), e.g. 0.01",
        )
        p.add_argument(
            "--baud",
            type=int,
            default=None,
            help="pace the serial bytes as a UART at this baud rate would (default: unpaced)",
        )
        p.add_argument(
            "--board-id",
            default=None,
            help="board id the board reports in its handshake (default: sim-<kind>-<random hex>)",
        )
        p.add_argument("--journal", default=None, help="plate issuer: keep the job journal ('flash') in this file")
        if kind == "vehicle-board":
            p.add_argument(
                "--pulses-per-rev",
                type=float,
                default=2.0,
                help="the car's tach pulses per engine revolution, and the board's setting at boot",
            )
        p.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passlane sim")
    register(parser)
    ns = parser.parse_args(argv)
    if not getattr(ns, "func", None):
        parser.print_help()
        return 2
    return int(ns.func(ns))


if __name__ == "__main__":
    raise SystemExit(main())
