"""`passlane lane run|check-config|config-reference`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _pki_hint(cfg: Any) -> list[str]:
    """When the site CA or the unit's broker password file is missing: the `passlane pki init` that makes them."""
    from edge.pki import SitePki

    ca, password = Path(cfg.mqtt.tls.ca_file), cfg.mqtt.password.file
    if ca.exists() and (password is None or Path(password).exists()):
        return []
    pki = SitePki(ca.parent)
    wanted = [(pki.ca_cert, ca)] + ([(pki.password_file(cfg.unit), Path(password))] if password is not None else [])
    lines = [
        f"hint: the site CA and the broker password of {cfg.unit} come from `passlane pki init`:",
        f"  passlane pki init {pki.root} --site {cfg.site} --unit {cfg.unit}",
    ]
    lines += [f"  then copy {made} to {want}" for made, want in wanted if made != want]
    lines.append(
        f"  (if the site's CA was made in another folder: run it on that folder, then copy its ca.crt and "
        f"secrets/{cfg.unit}.password to the paths this config names)"
    )
    return lines


def _check(ns: argparse.Namespace) -> int:
    from edge.config import ConfigError, check_secrets, load_config

    ns.config = ns.config or ns.file
    try:
        cfg = load_config(ns.config)
    except ConfigError as exc:
        print(f"{ns.config}: invalid: {exc}", file=sys.stderr)
        return 1
    problems = check_secrets(cfg)
    for p in problems:
        print(f"{ns.config}: {p}", file=sys.stderr)
    if problems:
        print("\n".join(_pki_hint(cfg)), file=sys.stderr)
        return 1
    print(
        f"{ns.config}: ok (site {cfg.site}, unit {cfg.unit}, stations {', '.join(cfg.stations)}, "
        f"broker {cfg.mqtt.host}:{cfg.mqtt.port}, {len(cfg.inspectors)} inspectors, journal {cfg.journal.path})"
    )
    return 0


def _run(ns: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from edge.config import ConfigError, check_secrets, load_config
    from edge.logs import setup_logging
    from edge.systemd_notify import SystemdNotifier
    from lane_controller.memory import limit_malloc_arenas
    from lane_controller.runtime import Lane
    from lane_controller.web import ServerReady, serve

    limit_malloc_arenas(2)

    setup_logging(logging.INFO if ns.verbose else logging.WARNING)
    try:
        cfg = load_config(ns.config)
    except ConfigError as exc:
        print(f"{ns.config}: invalid: {exc}", file=sys.stderr)
        return 1
    problems = check_secrets(cfg)
    if problems:
        print("\n".join(problems + _pki_hint(cfg)), file=sys.stderr)
        return 1
    if ns.port is not None:
        cfg = cfg.model_copy(update={"ui": cfg.ui.model_copy(update={"port": ns.port})})

    from lane_controller.vin_camera import CameraError, ReaderUnavailable, VinReading

    try:
        # --no-reader is the operator's explicit choice; otherwise a reader that does not load stops the start
        reader = VinReading(load=not ns.no_reader)
    except ReaderUnavailable as exc:
        print(f"lane {cfg.unit}: {exc}", file=sys.stderr)
        return 1

    async def main() -> None:
        try:
            lane = Lane(cfg, config_path=Path(ns.config), reader=reader)
        except CameraError as exc:
            print(f"lane {cfg.unit}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        loop = asyncio.get_running_loop()
        # uvicorn catches SIGTERM/SIGINT during serve() (graceful shutdown: the lane publishes `stopped`)
        # and re-raises them afterwards; this no-op keeps that re-raise from killing the finished process.
        signal.signal(signal.SIGTERM, lambda *_: None)
        ready = ServerReady()
        systemd = SystemdNotifier()  # under systemd (deploy/systemd): READY once the tablet listens, then the watchdog

        async def announce() -> None:
            await ready.wait()
            port = ready.port or cfg.ui.port
            print(
                f"lane {cfg.unit} running: tablet on http://{cfg.ui.host}:{port}/ ; journal {cfg.journal.path}",
                flush=True,
            )
            systemd.ready(f"lane {cfg.unit}: tablet on port {port}")

        announcer = loop.create_task(announce())
        try:
            await serve(lane, cfg.ui.host, cfg.ui.port, ready)
        except asyncio.CancelledError:
            pass
        finally:
            announcer.cancel()
            systemd.stopping()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def _reference(ns: argparse.Namespace) -> int:
    from edge.config import config_reference_markdown

    print(config_reference_markdown(), end="")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    p = sub.add_parser("run", help="run one lane: controller, boards, cloud link and the tablet UI")
    p.add_argument("--config", required=True, help="lane.toml")
    p.add_argument("--port", type=int, default=None, help="tablet UI port (overrides ui.port)")
    p.add_argument(
        "--no-reader",
        action="store_true",
        help="run without the VIN model: every VIN is read by the inspector, and the tablet shows the reader is off",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what the lane does (INFO), not only warnings")
    p.set_defaults(func=_run)
    c = sub.add_parser("check-config", help="validate lane.toml (unknown keys, types, secrets reachable)")
    given = c.add_mutually_exclusive_group(required=True)
    given.add_argument("file", nargs="?", metavar="LANE_TOML", help="the lane.toml to check")
    given.add_argument("--config", metavar="LANE_TOML", help="the same, as an option")
    c.set_defaults(func=_check)
    r = sub.add_parser("config-reference", help="print the lane.toml reference (markdown) generated from the models")
    r.set_defaults(func=_reference)
