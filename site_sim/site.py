"""Start and stop a whole registration site on this machine, all real processes.

One `Site` owns: the site PKI, a private TLS Mosquitto, the cloud bridge
(embedded SQLite, generated reference data, an ops admin account, the
payment provider's key) and, per lane, two simulated lane-bus boards running
the real firmware (`passlane sim io-board|plate-issuer`, TCP serial links), a
VIN camera folder and the lane controller (`passlane lane run`). Every
process is a child in its own process group and is stopped on exit.

`request_stop()` may be called from a signal handler or another thread: the
start gives up at its next step, and `stop()` then takes down whatever runs.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.broker import MosquittoBroker, free_port
from edge.pki import SitePki
from site_sim.processes import ManagedProcess, ProcessFailed, ProcessGroup, http_probe, tcp_probe
from site_sim.unit_configs import edge_sections_toml

SITE_ID = "site-1"
AUTHORITY = "苏A"
OPS_USER = "ops"
INSPECTOR_PIN = "2468"


def passlane(*args: str) -> list[str]:
    """argv for a `passlane` subcommand with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "edge.cli", *args]


@dataclass
class LaneProcesses:
    """Where one lane's parts listen, and its folders."""

    unit: str
    root: Path
    io_port: int
    io_control: int
    issuer_port: int
    issuer_control: int
    ui_port: int

    @property
    def camera_dir(self) -> Path:
        return self.root / "camera"

    @property
    def tablet_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def config_path(self) -> Path:
        return self.root / "lane.toml"

    @property
    def inspector_id(self) -> str:
        return f"insp-{self.unit}"


@dataclass
class Site:
    """A running site; `start()` brings it up, `stop()` (or the context manager) takes it down."""

    root: Path
    lanes: int = 2
    speed: float = 60.0
    reference_vehicles: int = 400
    seed: int = 1
    bridge_http_port: int = 0
    line_noise: float = 0.0  # probability each serial byte is corrupted (a noisy cable)
    processes: ProcessGroup = field(init=False)
    broker: MosquittoBroker = field(init=False)
    pki: SitePki = field(init=False)
    lane_parts: list[LaneProcesses] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.processes = ProcessGroup(self.root / "logs")
        self.pki = SitePki(self.root / "pki")
        self.bridge_http_port = self.bridge_http_port or free_port()

    # ------------------------------------------------------------ paths and secrets
    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.bridge_http_port}"

    @property
    def bridge_db(self) -> Path:
        return self.root / "bridge" / "bridge.sqlite3"

    @property
    def payment_key_file(self) -> Path:
        return self.root / "bridge" / "payment.key"

    @property
    def audit_key_file(self) -> Path:
        return self.root / "bridge" / "audit.key"

    @property
    def ops_password_file(self) -> Path:
        return self.root / "bridge" / "ops.password"

    @property
    def bridge_config(self) -> Path:
        return self.root / "bridge" / "bridge.toml"

    @property
    def rules_file(self) -> Path:
        return self.root / "bridge" / "rules.toml"

    @property
    def reference_file(self) -> Path:
        return self.root / "bridge" / "reference.json"

    def reference_vehicles_data(self) -> list[dict]:
        """The generated partner records: each new car with its certificate and its owner's ID number."""
        return list(json.loads(self.reference_file.read_text())["vehicles"])

    # ------------------------------------------------------------ start
    def start(self) -> Site:
        self.root.mkdir(parents=True, exist_ok=True)
        units = {"bridge": "bridge", "ops": "ops"} | {f"lane-{i:02d}": "lane" for i in range(1, self.lanes + 1)}
        self.pki.init(SITE_ID, units)
        self._check_not_stopping()
        self.broker = MosquittoBroker(self.pki, self.root / "broker")
        self.start_broker()
        self._prepare_bridge()
        self.start_bridge()
        for i in range(1, self.lanes + 1):
            parts = self._prepare_lane(f"lane-{i:02d}")
            self.lane_parts.append(parts)
            self.start_boards(parts)
            self.start_lane(parts)
        return self

    def start_broker(self) -> None:
        """Start (or restart) the broker, under the guardian's eye like the site's other processes."""
        self.broker.start()
        if self.broker.proc is not None:
            self.processes.guardian.watch(self.broker.proc.pid)

    def crash_broker(self) -> None:
        """kill -9 of the broker, as a power cut would."""
        pid = self.broker.proc.pid if self.broker.proc is not None else None
        self.broker.kill()
        if pid is not None:
            self.processes.guardian.release(pid)

    @property
    def stopping(self) -> bool:
        return self.processes.stopping.is_set()

    def request_stop(self) -> None:
        """Ask a starting or running site to stop: safe from a signal handler (it only sets a flag)."""
        self.processes.stopping.set()

    def _check_not_stopping(self) -> None:
        if self.stopping:
            raise ProcessFailed("the site is stopping")

    def _run_once(self, name: str, *args: str, timeout: float = 120.0) -> None:
        self._check_not_stopping()
        proc = ManagedProcess(name, passlane(*args), self.root / "logs", guardian=self.processes.guardian)
        proc.start()
        deadline = time.monotonic() + timeout
        while proc.running:
            if self.processes.stopping.wait(0.05) or time.monotonic() > deadline:
                proc.stop()
                raise ProcessFailed(
                    f"`passlane {' '.join(args)}` "
                    + ("stopped: the site is stopping" if self.stopping else f"took over {timeout:.0f}s")
                )
        code = proc.returncode
        proc.stop()  # it has exited: what is left of its group goes, and the guardian forgets it
        if code != 0:
            raise RuntimeError(f"`passlane {' '.join(args)}` failed:\n{proc.tail_log()}")

    def _prepare_bridge(self) -> None:
        (self.root / "bridge").mkdir(parents=True, exist_ok=True)
        if not self.payment_key_file.exists():
            self.payment_key_file.write_text(secrets.token_hex(32) + "\n")
            self.payment_key_file.chmod(0o600)
        if not self.ops_password_file.exists():
            self.ops_password_file.write_text(secrets.token_urlsafe(12) + "\n")
            self.ops_password_file.chmod(0o600)
        if not self.audit_key_file.exists():  # signs the audit log; a real site keeps it off the database's disk
            self.audit_key_file.write_text(secrets.token_hex(32) + "\n")
            self.audit_key_file.chmod(0o600)
        self.rules_file.write_text(demo_rules(self.speed))
        self.bridge_config.write_text(demo_bridge_config(self.speed))
        if self.bridge_db.exists():
            return
        db = str(self.bridge_db)
        self._run_once(
            "gen-reference",
            "bridge",
            "gen-reference",
            str(self.reference_file),
            "--vehicles",
            str(self.reference_vehicles),
            "--seed",
            str(self.seed),
        )
        self._run_once("init-db", "bridge", "init-db", "--db", db)
        self._run_once(
            "load-reference",
            "bridge",
            "load-reference",
            "--db",
            db,
            str(self.reference_file),
            "--audit-key-file",
            str(self.audit_key_file),
        )
        self._run_once(
            "user-add",
            "bridge",
            "user",
            "add",
            OPS_USER,
            "--role",
            "ops-admin",
            "--db",
            db,
            "--password-file",
            str(self.ops_password_file),
            "--audit-key-file",
            str(self.audit_key_file),
        )

    def bridge_argv(self) -> list[str]:
        return passlane(
            "bridge",
            "serve",
            "--config",
            str(self.bridge_config),
            "--db",
            str(self.bridge_db),
            "--mqtt-host",
            self.broker.host,
            "--mqtt-port",
            str(self.broker.port),
            "--ca",
            str(self.pki.ca_cert),
            "--site-dir",
            str(self.pki.root),
            "--http",
            f"127.0.0.1:{self.bridge_http_port}",
            "--workers",
            "1",
            "--payment-key-file",
            str(self.payment_key_file),
            "--rules",
            str(self.rules_file),
            "--audit-key-file",
            str(self.audit_key_file),
        )

    def start_bridge(self) -> ManagedProcess:
        return self.processes.start(
            "bridge", self.bridge_argv(), ready=http_probe(f"{self.dashboard_url}/login"), timeout=60
        )

    def _prepare_lane(self, unit: str) -> LaneProcesses:
        root = self.root / unit
        root.mkdir(parents=True, exist_ok=True)
        parts = LaneProcesses(unit, root, free_port(), free_port(), free_port(), free_port(), free_port())
        parts.camera_dir.mkdir(exist_ok=True)
        (root / "inspector.pin").write_text(INSPECTOR_PIN + "\n")
        parts.config_path.write_text(lane_toml(parts, self))
        return parts

    def start_boards(self, parts: LaneProcesses) -> None:
        for kind, port, control in (
            ("io-board", parts.io_port, parts.io_control),
            ("plate-issuer", parts.issuer_port, parts.issuer_control),
        ):
            self.processes.start(
                f"{parts.unit}-{kind}",
                passlane(
                    "sim",
                    kind,
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--control",
                    f"127.0.0.1:{control}",
                    "--time-scale",
                    str(self.speed),
                    "--world-log",
                    str(parts.root / f"world-{kind}.jsonl"),
                    "--journal",
                    str(parts.root / f"{kind}-flash.json"),
                    "--line-noise",
                    str(self.line_noise),
                ),
                ready=tcp_probe("127.0.0.1", control),
            )

    def start_lane(self, parts: LaneProcesses) -> ManagedProcess:
        return self.processes.start(
            parts.unit,
            passlane("lane", "run", "--config", str(parts.config_path)),
            ready=http_probe(f"{parts.tablet_url}/api/health"),
            timeout=90,
        )

    # ------------------------------------------------------------ stop
    def stop(self) -> None:
        self.processes.stop_all()
        if getattr(self, "broker", None) is not None:
            self.broker.stop()
        self.processes.guardian.close()  # a clean stop: nothing left for it to do

    def __enter__(self) -> Site:
        try:
            return self.start()
        except BaseException:
            self.stop()  # `with` does not call __exit__ when __enter__ fails: stop what did start
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def demo_rules(speed: float) -> str:
    """Risk thresholds for a sped-up site.

    The lanes and the bridge keep real clocks, while people and machines in the
    demo move `speed` times faster: a 4-minute inspection takes 4 s of real time.
    Time thresholds about people are divided by the speed so that the alerts mean
    what they mean at a real site (the 30-minute limit is 30 s of event time at 60x).
    """
    return (
        "# generated by site_sim: thresholds scaled to the demo's speed\n"
        "[rules]\n"
        f"min_inspection_s = {120.0 / speed:.3f}\n"
        f"case_open_limit_s = {1800.0 / speed:.3f}\n"
    )


def demo_bridge_config(speed: float) -> str:
    """The bridge's settings the flags do not give: the site's time scale, so that the dashboard shows simulated time."""
    return f"# generated by site_sim\n[dashboard]\ntime_scale = {speed:g}\n"


def lane_toml(parts: LaneProcesses, site: Site) -> str:
    """The lane's config: real boards on TCP serial links, the camera folder, one inspector."""
    return f'''# generated by site_sim for the demo
site = "{SITE_ID}"
unit = "{parts.unit}"
stations = ["A"]

{edge_sections_toml(site.broker, site.pki, parts.unit, parts.root / "journal.sqlite3", 5, 5)}
[io_board]
url = "socket://127.0.0.1:{parts.io_port}"

[plate_issuer]
url = "socket://127.0.0.1:{parts.issuer_port}"

[camera]
source = "{parts.camera_dir}"

[plates]
authority = "{AUTHORITY}"

[ui]
port = {parts.ui_port}
time_scale = {site.speed:g}

[[inspectors]]
id = "{parts.inspector_id}"
name = "检验员 {parts.unit[-2:]}"
pin = {{ file = "{parts.root / "inspector.pin"}" }}
'''
