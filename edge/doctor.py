"""`passlane doctor --config FILE`: check a unit on site and say what is wrong in a technician's words.

One line per check, OK / WARN / FAIL, and for anything not OK the fix in plain words; exit 1 on any FAIL.
The checks every unit shares live here (config, site CA, broker login, boards' HELLO and firmware version,
disk space, clock, journal chain); each role adds its own (the lane's camera, the exam car's GNSS receiver)
in ``lane_controller.doctor_checks`` / ``exam_vehicle.doctor_checks``. `edge` may not import the roles, so
the runner loads the role's module by name, the way `edge.cli` loads subcommands.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import enum
import importlib
import json
import shutil
import socket
import sqlite3
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge.clock_sync import ClockGate, ClockState

CERT_WARN_DAYS = 30
"""WARN when the site CA expires within this many days: time to renew it on every unit and the broker."""
DISK_WARN_BYTES = 1 << 30
"""WARN under 1 GiB free in the data folder: photos and tracks fill an SD card within days."""
DISK_FAIL_BYTES = 200 << 20
"""FAIL under 200 MiB free: the lane stops taking new cases near this point."""
BROKER_TIMEOUT_S = 5.0
BOARD_TIMEOUT_S = 3.0

# role -> the module holding its config loader and its own checks (loaded by name: edge never imports a role)
ROLE_MODULES = {"lane": "lane_controller.doctor_checks", "exam-vehicle": "exam_vehicle.doctor_checks"}


class Status(enum.StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Result:
    """One check's outcome: what was looked at, what was found, and (when not OK) what to do about it."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status.value, "detail": self.detail, "fix": self.fix}


Check = Callable[[], Result]


def run_checks(checks: Sequence[tuple[str, Check]]) -> list[Result]:
    """Run each check; one that crashes is a FAIL naming the error, so one broken part never hides the others."""
    out = []
    for name, check in checks:
        try:
            out.append(check())
        except Exception as exc:  # noqa: BLE001 - the doctor reports every failure instead of stopping
            out.append(Result(name, Status.FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
    return out


# ---------------------------------------------------------------- certificates


def ca_result(ca_file: Path, now: dt.datetime | None = None) -> Result:
    """The site CA the unit trusts the broker by: present, a certificate, and not expired or about to."""
    from cryptography import x509

    now = now or dt.datetime.now(dt.UTC)
    fix_copy = f"copy the site's ca.crt (made by `passlane pki init`) to {ca_file}"
    if not ca_file.exists():
        return Result("certificates", Status.FAIL, f"site CA {ca_file} is missing", fix_copy)
    try:
        cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    except (ValueError, OSError) as exc:
        return Result("certificates", Status.FAIL, f"site CA {ca_file} is not a certificate ({exc})", fix_copy)
    end = cert.not_valid_after_utc
    days = (end - now).total_seconds() / 86400
    renew = "renew the site CA (`passlane pki renew` on the site server) and copy the new ca.crt to every unit"
    if now < cert.not_valid_before_utc:
        return Result(
            "certificates",
            Status.FAIL,
            f"site CA is not valid until {cert.not_valid_before_utc:%Y-%m-%d}",
            "set the clock",
        )
    if days < 0:
        return Result("certificates", Status.FAIL, f"site CA expired on {end:%Y-%m-%d}", renew)
    if days < CERT_WARN_DAYS:
        return Result("certificates", Status.WARN, f"site CA expires in {int(days)} days ({end:%Y-%m-%d})", renew)
    return Result("certificates", Status.OK, f"site CA valid until {end:%Y-%m-%d} ({int(days)} days)")


# ---------------------------------------------------------------- broker


def broker_result(cfg: Any, timeout_s: float = BROKER_TIMEOUT_S) -> Result:
    """Log in to the site broker as this unit (TLS, its password) and tell apart the three ways that fails."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.settings import ConfigError

    m = cfg.mqtt
    where = f"{m.host}:{m.port}"
    user = m.username or cfg.unit
    if not Path(m.tls.ca_file).exists():
        return Result("broker", Status.FAIL, f"not tried: no site CA to check {where} by", "see certificates")
    try:
        password = m.password.reveal()
    except ConfigError as exc:
        return Result("broker", Status.FAIL, f"not tried: the unit's password cannot be read ({exc})", "see config")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{cfg.unit}-doctor", protocol=mqtt.MQTTv5)
    client.tls_set_context(ssl.create_default_context(cafile=str(m.tls.ca_file)))
    client.username_pw_set(user, password)
    client.connect_timeout = timeout_s
    answer: list[Any] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answer.append(reason)
    try:
        client.connect(m.host, m.port, keepalive=max(5, int(timeout_s) + 1))
    except ssl.SSLCertVerificationError as exc:
        return Result(
            "broker",
            Status.FAIL,
            f"TLS: certificate not trusted by {where} ({exc.verify_message})",
            f"this unit's CA file is not the site CA that signed the broker's certificate, or mqtt.host {m.host!r} "
            "is not a name in that certificate; copy the site's ca.crt and use the broker's name",
        )
    except (OSError, TimeoutError) as exc:
        return Result(
            "broker",
            Status.FAIL,
            f"broker not reachable at {where} ({exc})",
            "check the network cable and that the site server is on and runs the broker (mosquitto); "
            "check mqtt.host and mqtt.port",
        )
    deadline = time.monotonic() + timeout_s
    while not answer and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    if not answer:
        return Result("broker", Status.FAIL, f"broker at {where} did not answer the login", "restart the broker")
    reason = answer[0]
    if not reason.is_failure:
        return Result("broker", Status.OK, f"logged in to {where} as {user}")
    if reason.value in (134, 135):  # bad user name or password / not authorized
        return Result(
            "broker",
            Status.FAIL,
            f"refused: bad user name or password for {user} at {where} ({reason})",
            f"the password file must hold this unit's password from the site's secrets/{user}.password "
            f"(`passlane pki init`), and the unit id {cfg.unit} must be an account on the broker",
        )
    return Result("broker", Status.FAIL, f"broker at {where} refused the login: {reason}", "ask the site's admin")


# ---------------------------------------------------------------- boards


def expected_firmware() -> str:
    """The firmware version this host ships (the files `passlane firmware flash` copies onto a board)."""
    from firmware.link import FW_VERSION

    return ".".join(str(n) for n in FW_VERSION)


def _nobody_there(url: str) -> str | None:
    """Why nothing answered at `url`, when that is plain (no such device, nothing listening at a socket)."""
    if "://" not in url:
        return None if Path(url).exists() else f"no such device {url}"
    parts = urlsplit(url)
    if parts.scheme != "socket" or not parts.hostname or not parts.port:
        return None
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError as exc:
        return f"nothing answers at {url} ({exc.strerror or exc})"
    return None


async def _hello(url: str, kind: str, timeout_s: float) -> Any:
    from edge.lanebus import BoardClient

    client = BoardClient(url, expected_kind=kind, name=kind)
    await client.start(timeout_s)
    try:
        return client.info
    finally:
        await client.close()


def board_result(kind: str, url: str, expected: str | None = None, timeout_s: float = BOARD_TIMEOUT_S) -> Result:
    """The board at `url` answers HELLO as a `kind`, running the firmware version this host ships."""
    from edge.lanebus import BoardOffline, WrongBoard

    expected = expected or expected_firmware()
    try:
        info = asyncio.run(_hello(url, kind, timeout_s))
    except BoardOffline as exc:
        return Result(
            kind,
            Status.FAIL,
            f"no answer at {url}: {_nobody_there(url) or exc}",
            f"check the {kind}'s USB cable and power, and that [{kind.replace('-', '_')}] url in the config names "
            f"it (/dev/passlane/{kind})",
        )
    except WrongBoard as exc:
        return Result(kind, Status.FAIL, f"wrong board at {url}: {exc}", f"plug the {kind} into this port")
    if info.firmware_version != expected:
        return Result(
            kind,
            Status.FAIL,
            f"{info.board_id} runs firmware {info.firmware_version}, this software expects {expected}",
            f"flash the {kind} with this installation's firmware: passlane firmware flash --port PORT --role {kind} "
            "(firmware/README.md), then check again",
        )
    return Result(kind, Status.OK, f"{info.board_id} answers, firmware {info.firmware_version}")


# ---------------------------------------------------------------- disk, clock


def disk_result(folder: Path, warn: int = DISK_WARN_BYTES, fail: int = DISK_FAIL_BYTES) -> Result:
    """Free space where the unit keeps its journal, photos and tracks."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    text = f"{free / (1 << 30):.1f} GiB free in {folder}"
    fix = "delete old photos/tracks that were uploaded, or use a larger SD card"
    if free < fail:
        return Result("disk", Status.FAIL, text, fix)
    if free < warn:
        return Result("disk", Status.WARN, text, fix)
    return Result("disk", Status.OK, text)


def clock_result(state: ClockState) -> Result:
    """The clock as the unit itself judges it (its `[clock]` section: the kernel's flag, or the site's
    `sync_command`, or not required), so the doctor and the gate that refuses cases never disagree."""
    fix = "give the unit a network path to the site's time server (systemd-timesyncd, NTP=) and wait a minute"
    if state.synced:
        return Result("clock", Status.OK, f"clock synchronised ({state.source}: {state.detail})")
    return Result(
        "clock",
        Status.FAIL,
        f"clock not synchronised: cases and exams cannot start ({state.source}: {state.detail})",
        fix,
    )


# ---------------------------------------------------------------- journal


def journal_result(path: Path, unit: str) -> Result:
    """The journal's hash chain verifies event by event, and how many events still wait to reach the cloud."""
    from edge.contract import EventEnvelope, EventKind, event_hash

    if not path.exists():
        return Result("journal", Status.OK, f"no journal yet at {path} (a new unit)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT seq, ts, kind, case_id, station, actor, data, prev, hash FROM events ORDER BY seq")
        last, count, broken = None, 0, None
        for seq, ts, kind, case_id, station, actor, data, prev, stored in rows:
            count += 1
            if stored is None:  # written before events were chained
                last = None
                continue
            env = EventEnvelope(
                unit=unit, seq=seq, ts=ts, kind=EventKind(kind), case_id=case_id, station=station, actor=actor,
                data=json.loads(data), prev=prev,
            )  # fmt: skip
            if event_hash(env) != stored or (last is not None and prev != last):
                broken = seq
                break
            last = stored
        unsent = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    except (sqlite3.DatabaseError, ValueError) as exc:
        return Result("journal", Status.FAIL, f"journal {path} cannot be read: {exc}", _JOURNAL_FIX)
    finally:
        db.close()
    if broken is not None:
        return Result(
            "journal", Status.FAIL, f"journal chain broken at event {broken}: altered or damaged", _JOURNAL_FIX
        )
    return Result("journal", Status.OK, f"{count} events, chain intact; {unsent} not yet acknowledged by the cloud")


_JOURNAL_FIX = (
    "do not delete it: stop the unit, copy the journal file off the unit and call support; "
    "the cloud keeps every event it acknowledged"
)


# ---------------------------------------------------------------- the runner


def guess_role(path: Path) -> str:
    """A lane config has an [io_board]; an exam vehicle's has a [vehicle_board] and [gnss]."""
    from edge.settings import read_toml

    data = read_toml(path)
    if "vehicle_board" in data or "gnss" in data:
        return "exam-vehicle"
    return "lane"


def common_checks(cfg: Any, boards: Sequence[tuple[str, str]], data_folder: Path) -> list[tuple[str, Check]]:
    """What every unit has: its CA, its broker login, its boards (kind, url), its disk, clock and journal."""
    checks: list[tuple[str, Check]] = [
        ("certificates", lambda: ca_result(Path(cfg.mqtt.tls.ca_file))),
        ("broker", lambda: broker_result(cfg)),
    ]
    checks += [(kind, lambda k=kind, u=url: board_result(k, u)) for kind, url in boards]  # type: ignore[misc]
    checks += [
        ("disk", lambda: disk_result(data_folder)),
        ("clock", lambda: clock_result(ClockGate(cfg.clock).probe())),
        ("journal", lambda: journal_result(Path(cfg.journal.path), cfg.unit)),
    ]
    return checks


def diagnose(path: Path, role: str | None = None) -> list[Result]:
    """Every check of the unit configured by `path`; a config that does not load stops after that line."""
    from edge.settings import ConfigError

    try:
        role = role or guess_role(path)
        module = importlib.import_module(ROLE_MODULES[role])
        cfg = module.load_config(path)
    except ConfigError as exc:
        return [Result("config", Status.FAIL, f"{path}: {exc}", "correct the file (the message names the key)")]
    problems = cfg.problems()
    if problems:
        first = Result("config", Status.FAIL, "; ".join(problems), "put the named files in place, set the variables")
    else:
        first = Result("config", Status.OK, f"{path}: {role} {cfg.unit} of site {cfg.site}")
    return [first] + run_checks(module.checks(cfg))


def render(results: Sequence[Result]) -> str:
    width = max(len(r.check) for r in results)
    lines = []
    for r in results:
        lines.append(f"{r.status.value:<4}  {r.check:<{width}}  {r.detail}")
        if r.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {r.fix}")
    return "\n".join(lines)


def _main(ns: argparse.Namespace) -> int:
    path = Path(ns.config)
    if not path.exists():
        print(f"FAIL  config  {path} does not exist", file=sys.stderr)
        return 1
    results = diagnose(path, ns.role)
    if ns.json:
        print(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        print(render(results))
    return 1 if any(r.status is Status.FAIL for r in results) else 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the unit's config (lane.toml or exam-vehicle.toml)")
    parser.add_argument("--role", choices=sorted(ROLE_MODULES), help="the unit's role (default: guessed from the file)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=_main)
