"""`passlane board ...`: talk to a lane-bus board from the host."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit


def _client_kw(ns: argparse.Namespace) -> dict[str, Any]:
    return {"name": ns.url}


async def _vehicle_status(ns: argparse.Namespace) -> int:
    from firmware import lanebus as lb

    from . import BoardClient
    from .boards import vehicle_status_from

    async with BoardClient(ns.url, expected_kind="vehicle-board") as client:
        r = await client.command(lb.GET_STATUS)
        assert r.values is not None
        st = vehicle_status_from(r.values)
        info = client.info
        assert info is not None
        if ns.json:
            print(
                json.dumps({"info": info.__dict__, "status": st.model_dump(), "link": client.stats.as_dict()}, indent=2)
            )
        else:
            print(f"{info.kind} {info.board_id}  firmware {info.firmware_version}  protocol {info.protocol_version}")
            print(f"  host link {'up' if st.host_link else 'down'}   tach {st.pulses_per_rev:g} pulses/rev")
            for name, value in st.signals.items():
                print(f"  {name:<16} {value}")
    return 0


async def _status(ns: argparse.Namespace) -> int:
    from . import IoBoardDriver, PlateIssuerDriver

    if ns.kind == "vehicle-board":
        return await _vehicle_status(ns)
    cls = PlateIssuerDriver if ns.kind == "plate-issuer" else IoBoardDriver
    async with cls(ns.url) as board:
        st = await board.status()
        out = {
            "info": board.info.__dict__ if board.info else None,
            "status": st.model_dump(),
            "link": board.stats.as_dict(),
        }
        if ns.json:
            print(json.dumps(out, indent=2))
        else:
            info = board.info
            assert info is not None
            print(f"{info.kind} {info.board_id}  firmware {info.firmware_version}  protocol {info.protocol_version}")
            if ns.kind == "plate-issuer":
                for k, v in st.model_dump().items():
                    print(f"  {k:<16} {v}")
            else:
                print(
                    f"  e-stop {'PRESSED' if st.estop else 'released'}   host link {'up' if st.host_link else 'down'}"
                )
                for name, b in st.barriers.items():
                    print(
                        f"  {name:<6} arm={b.arm:<8} loop={'occupied' if b.loop_occupied else 'free':<8} "
                        f"beam={'blocked' if b.beam_blocked else 'clear':<7} edge={'pressed' if b.edge else 'no':<7} "
                        f"light={b.light:<5} fault={b.fault}"
                    )
    return 0


async def _barrier(ns: argparse.Namespace) -> int:
    from . import CommandRefused, IoBoardDriver

    async with IoBoardDriver(ns.url) as io:
        fn = {"open": io.open_barrier, "close": io.close_barrier, "stop": io.stop_barrier}[ns.action]
        try:
            arm = await fn(ns.barrier)
        except CommandRefused as e:
            print(f"{ns.action} {ns.barrier}: REFUSED {e.reason} (code {e.code}, detail {e.detail})")
            return 3
        print(f"{ns.action} {ns.barrier}: accepted, arm {arm}")
        if ns.wait and ns.action != "stop":
            target = "open" if ns.action == "open" else "closed"
            st = await io.wait_arm(ns.barrier, target, ns.timeout)
            print(f"{ns.barrier}: arm {st.barriers[ns.barrier].arm}")
    return 0


async def _light(ns: argparse.Namespace) -> int:
    from . import IoBoardDriver

    async with IoBoardDriver(ns.url) as io:
        print(f"{ns.barrier} light: {await io.set_light(ns.barrier, ns.light)}")
    return 0


async def _issue(ns: argparse.Namespace) -> int:
    from . import CommandRefused, PlateIssuerDriver

    async with PlateIssuerDriver(ns.url) as pi:
        try:
            js = await pi.issue(ns.job_id, ns.plate_type, ns.text)
        except CommandRefused as e:
            print(f"issue {ns.job_id}: REFUSED {e.reason} (code {e.code})")
            return 3
        print(f"job {js.job_id}: {js.state} ({js.plates_done}/2 plates)")
        if ns.wait:
            js = await pi.wait_job(ns.job_id, ("done", "paused", "interrupted"), ns.timeout)
            print(f"job {js.job_id}: {js.state} ({js.plates_done}/2 plates) fault={js.fault}")
    return 0


async def _job(ns: argparse.Namespace) -> int:
    from . import CommandRefused, PlateIssuerDriver

    async with PlateIssuerDriver(ns.url) as pi:
        try:
            js = await pi.job_status(ns.job_id)
        except CommandRefused as e:
            print(f"job {ns.job_id}: {e.reason}")
            return 3
        print(json.dumps(js.model_dump()))
    return 0


async def _clear_fault(ns: argparse.Namespace) -> int:
    from . import CommandRefused, PlateIssuerDriver

    async with PlateIssuerDriver(ns.url) as pi:
        try:
            st = await pi.clear_fault()
        except CommandRefused as e:
            print(f"clear-fault: REFUSED {e.reason}")
            return 3
        print(json.dumps(st.model_dump()))
    return 0


async def _events(ns: argparse.Namespace) -> int:
    from . import BoardClient, BoardEvent

    client = BoardClient(ns.url, expected_kind=ns.kind)
    queue: asyncio.Queue[BoardEvent] = asyncio.Queue()
    client.on_event(queue.put_nowait)  # subscribed before start: the handshake's events are kept too
    await client.start()
    n = 0
    deadline = time.monotonic() + ns.seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ev = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            if ev.name == "status" and not ns.status:
                continue
            print(json.dumps({"t": round(ev.t, 3), "event": ev.name, **ev.data}, ensure_ascii=False), flush=True)
            n += 1
            if ns.count and n >= ns.count:
                break
    finally:
        await client.close()
    return 0


async def _drive_through(ns: argparse.Namespace) -> int:
    """Open, let one simulated vehicle pass, close when loop and beam are clear."""
    from firmware.sim.control import SimControl

    from . import IoBoardDriver

    host, _, port = ns.control.rpartition(":")
    ctl = SimControl(host, int(port))
    async with IoBoardDriver(ns.url) as io:
        b = ns.barrier
        io.on_event(lambda ev: print(f"  event {ev.name} {ev.data}") if ev.name != "status" else None)
        print(f"vehicle arrives at {b}")
        ctl.vehicle_arrive(b)
        await io.set_light(b, "green")
        await io.open_barrier(b)
        await io.wait_arm(b, "open", ns.timeout)
        print("arm open; vehicle drives through")
        ctl.vehicle_pass(b)
        deadline = time.monotonic() + ns.timeout
        while ctl.state()["barriers"][b]["vehicle"] != "none":
            if time.monotonic() > deadline:
                print("vehicle did not pass in time")
                return 1
            await asyncio.sleep(0.05)
        await io.set_light(b, "red")
        st = await io.status()
        while st.barriers[b].loop_occupied or st.barriers[b].beam_blocked:
            if time.monotonic() > deadline:
                print("loop/beam did not clear in time; not closing")
                return 1
            await asyncio.sleep(0.05)
            st = await io.status()
        await io.close_barrier(b)
        await io.wait_arm(b, "closed", ns.timeout)
        print("arm closed")
    bad = [
        e
        for e in ctl.world_log()
        if e["event"] == "arm_struck_presence" or (e["event"] == "arm_closing" and e.get("presence"))
    ]
    ctl.close()
    print("safety: " + ("no arm moved down onto presence" if not bad else f"VIOLATIONS {bad}"))
    return 0 if not bad else 1


def _unreachable(url: str) -> str | None:
    """Why nothing could answer at `url`, when that is plain: nothing listens at a socket, or no such device."""
    if "://" not in url:
        return None if os.path.exists(url) else f"no such device {url}"
    parts = urlsplit(url)
    if parts.scheme != "socket" or not parts.hostname or not parts.port:
        return None
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return f"connection refused at {url}"
    except OSError:
        pass
    return None


def _wrap(coro_fn: Any) -> Any:
    def run(ns: argparse.Namespace) -> int:
        from . import BoardOffline, WrongBoard

        try:
            return int(asyncio.run(coro_fn(ns)))
        except BoardOffline as e:
            print(f"error: {_unreachable(ns.url) or e}", file=sys.stderr)
            return 4
        except WrongBoard as e:
            print(f"error: {e}", file=sys.stderr)
            return 4

    return run


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="board_cmd", metavar="COMMAND")

    def add(name: str, help_: str, fn: Any, kind: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--url",
            required=True,
            help="pyserial URL of the board: a serial device such as /dev/ttyACM0, or socket://HOST:PORT "
            "for a board simulator (`passlane sim` prints its URL)",
        )
        if kind:
            p.add_argument(
                "--kind",
                choices=("io-board", "plate-issuer", "vehicle-board"),
                default="io-board",
                help="which board to expect at --url (default io-board)",
            )
        p.set_defaults(func=_wrap(fn))
        return p

    p = add("status", "handshake and print the board's status and link counters", _status, kind=True)
    p.add_argument("--json", action="store_true", help="print the board info, status and link counters as JSON")
    p = add("barrier", "open / close / stop a barrier", _barrier)
    p.add_argument("action", choices=("open", "close", "stop"), help="open, close, or stop the arm where it is")
    p.add_argument("barrier", choices=("entry", "exit"), help="which barrier")
    p.add_argument("--wait", action="store_true", help="wait until the arm is open/closed")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds --wait waits for the arm (default 10)")
    p = add("light", "set a barrier's traffic light", _light)
    p.add_argument("barrier", choices=("entry", "exit"), help="which barrier's light")
    p.add_argument("light", choices=("red", "green", "off"), help="the light to show")
    p = add("issue", "issue a pair of plates (idempotent per job id)", _issue)
    p.add_argument("job_id", help="job id: issuing again with the same id never makes a second pair")
    p.add_argument(
        "plate_type",
        choices=("blue", "green", "yellow"),
        help="plate blank: blue (small car), green (new-energy small car), yellow (large vehicle)",
    )
    p.add_argument("text", help="the plate number to print, e.g. 京A12345")
    p.add_argument("--wait", action="store_true", help="wait until the job is done, paused or interrupted")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds --wait waits for the job (default 60)")
    p = add("job", "print a plate job's state", _job)
    p.add_argument("job_id", help="the job id given to `issue`")
    add("clear-fault", "clear the plate issuer's fault after the operator fixed it", _clear_fault)
    p = add("events", "print the board's events as JSON lines", _events, kind=True)
    p.add_argument("--seconds", type=float, default=10.0, help="stop after this many seconds (default 10)")
    p.add_argument("--count", type=int, default=0, help="stop after this many events (default 0: no limit)")
    p.add_argument("--status", action="store_true", help="include STATUS heartbeats")
    p = add(
        "drive-through",
        "simulated lane: open, let one vehicle pass, close (needs the sim control port)",
        _drive_through,
    )
    p.add_argument("--control", required=True, help="HOST:PORT of `passlane sim io-board --control`")
    p.add_argument(
        "--barrier", choices=("entry", "exit"), default="entry", help="which barrier the vehicle passes (default entry)"
    )
    p.add_argument("--timeout", type=float, default=20.0, help="seconds each step may take (default 20)")
