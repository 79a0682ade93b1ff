"""A whole exam site on this machine: the real broker, bridge and `passlane exam run` units, simulated cars and people.

`ExamSite` builds on the lane demo's `Site` (site PKI, private Mosquitto,
`passlane bridge serve`), with no lanes and N exam vehicles: each car is a
real unit process reading a simulated receiver (NMEA over ``socket://``) and
the real vehicle-board firmware on the simulated car (`site_sim.exam_world`).
The people are simulated: the examiner in each car (`Examiner`: watches the
car's page and tells the candidate to go and to stop) and the operator at the
console (`site_sim.exam_operator`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from edge.broker import free_port
from firmware.sim.control import SimControl
from site_sim.exam_car import Profile
from site_sim.exam_world import SimCar
from site_sim.processes import ManagedProcess, http_probe, tcp_probe
from site_sim.site import SITE_ID, Site, passlane
from site_sim.unit_configs import exam_vehicle_toml as unit_exam_vehicle_toml


@dataclass
class CarParts:
    """One test car: its unit's folder, config and page, and its simulated world."""

    unit: str
    root: Path
    page_port: int
    world: SimCar

    @property
    def config_path(self) -> Path:
        return self.root / "exam-vehicle.toml"

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.page_port}"

    def status(self) -> dict[str, Any] | None:
        """The examiner's page as the examiner reads it (None while the unit does not answer)."""
        try:
            return httpx.get(f"{self.page_url}/api/status", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return None


class Examiner:
    """The examiner in one car: when the exam starts on the car's page, tells the seated candidate to go;
    when its result shows, tells them to stop. An exam that vanishes (the unit restarted) ends when the drive does."""

    def __init__(self, car: CarParts) -> None:
        self.car = car
        self.seated: Profile | None = None
        self.exam_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"examiner-{car.unit}", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        return self.seated is None and self.exam_id is None

    def seat(self, profile: Profile) -> None:
        self.seated = profile

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            st = self.car.status()
            exam = (st or {}).get("exam") or None
            if exam and exam["running"] and exam["exam_id"] != self.exam_id and self.seated is not None:
                self.exam_id = exam["exam_id"]
                self.car.world.go(self.seated)
            elif self.exam_id is not None and exam and exam["exam_id"] == self.exam_id and not exam["running"]:
                self.car.world.stop()
                self.exam_id = self.seated = None
            elif (
                self.exam_id is not None
                and not self.car.world.driving
                and (st is None or not exam or exam["exam_id"] != self.exam_id)
            ):
                self.exam_id = self.seated = None  # the unit lost the exam (restarted): the drive is over


@dataclass
class ExamSite:
    """A running exam site; `start()` brings it up, `stop()` takes it down."""

    root: Path
    cars: int = 3
    speed: float = 8.0
    seed: int = 1
    site: Site = field(init=False)
    car_parts: list[CarParts] = field(default_factory=list, init=False)
    examiners: dict[str, Examiner] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.site = Site(self.root, lanes=0, speed=self.speed, seed=self.seed, reference_vehicles=50)

    @property
    def units(self) -> list[str]:
        return [f"car-{i:02d}" for i in range(1, self.cars + 1)]

    def start(self) -> ExamSite:
        self.root.mkdir(parents=True, exist_ok=True)
        self.site.pki.init(SITE_ID, {"bridge": "bridge", "ops": "ops"} | dict.fromkeys(self.units, "exam-vehicle"))
        self.site.start()
        for unit in self.units:
            root = self.root / unit
            root.mkdir(parents=True, exist_ok=True)
            parts = CarParts(unit, root, free_port(), SimCar(unit, self.speed, board=self._start_board(unit)))
            parts.config_path.write_text(exam_vehicle_toml(parts, self.site))
            self.car_parts.append(parts)
            self.start_unit(parts)
            self.examiners[unit] = Examiner(parts)
        return self

    def _start_board(self, unit: str) -> tuple[str, SimControl]:
        """The car's vehicle board: the real firmware on the simulated car, in its own process (its own clock)."""
        port, control = free_port(), free_port()
        self.site.processes.start(
            f"{unit}-vehicle-board",
            passlane(
                "sim",
                "vehicle-board",
                "--listen",
                f"127.0.0.1:{port}",
                "--control",
                f"127.0.0.1:{control}",
                "--world-log",
                str(self.root / unit / "world-vehicle-board.jsonl"),
            ),
            ready=tcp_probe("127.0.0.1", control),
        )
        return f"socket://127.0.0.1:{port}", SimControl("127.0.0.1", control)

    def car(self, unit: str) -> CarParts:
        return next(p for p in self.car_parts if p.unit == unit)

    def start_unit(self, parts: CarParts) -> ManagedProcess:
        return self.site.processes.start(
            parts.unit,
            passlane("exam", "run", "--config", str(parts.config_path)),
            ready=http_probe(f"{parts.page_url}/api/status"),
            timeout=60,
        )

    def kill_unit(self, unit: str) -> None:
        """kill -9 of the car's unit, as a power cut would."""
        self.site.processes[unit].kill()

    def restart_broker(self, down_s: float = 2.0) -> None:
        self.site.crash_broker()
        time.sleep(down_s)
        self.site.start_broker()

    def stop(self) -> None:
        for ex in self.examiners.values():
            ex.close()
        self.site.stop()
        for parts in self.car_parts:
            parts.world.close()

    def __enter__(self) -> ExamSite:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def exam_vehicle_toml(parts: CarParts, site: Site) -> str:
    """The car's config: the simulated receiver and board, judging on GNSS time, no loudspeaker."""
    return "# generated by site_sim for the exam demo\n" + unit_exam_vehicle_toml(
        SITE_ID,
        parts.unit,
        site.broker,
        site.pki,
        parts.world.nmea.url,
        parts.world.board_url,
        parts.page_port,
        tracks_dir=parts.root / "tracks",
        exam={"time_base": "gnss"},
        journal=parts.root / "journal.sqlite3",
        resend_after_s=3,
        telemetry_s=5,
    )
