"""One vehicle's visit, played by the simulated world and people.

The car, its owner and the lane's inspector act only through what they would
touch in life: the car through the simulated I/O board's world (loops, beams,
barrier arms) and the VIN camera's field of view, the inspector through the
tablet's HTTP API (the same endpoints the tablet page uses), the owner
through the payment provider, which signs its callback to the bridge. Human
steps take simulated time (`HumanDurations`, scaled by the site's speed);
everything the software does takes the real time it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx

from firmware.sim.control import SimControl, SimControlError
from lane_controller.vin_camera import upload_frame
from site_sim.attendant import top_up_magazines
from site_sim.machine_time import Board, WorldMark, covered_s, mark_boards, moving_since
from site_sim.payment_provider import SimulatedProvider
from site_sim.timing import HumanDurations

TERMINAL = ("closed",)
# how often a driver looks at the arm or the loop again: the world has no change stream, and a long
# glance would pass for the software's time (at 600x, 10 ms is 6 simulated seconds)
WORLD_GLANCE_S = 0.005
WORLD_STEP = "world: "  # a step of the simulated world's own work (`Journey.world`), not the software's
AFTER_VISIT = "after the car left: "  # a step of the lane's after the car has driven out: not the visit's time
PHOTOS_FORESEEN = ("0111", "0112", "0113")  # the photos a lane asks for by default (lane_controller.case)


class JourneyError(RuntimeError):
    """The software did not reach the state a person waits for within the patience allowed."""


@dataclass
class Vehicle:
    """A new car with its owner, as the reference data knows it."""

    vin: str
    owner_id_number: str
    seed: int
    fails_inspection: bool = False


@dataclass
class Outcome:
    vehicle: Vehicle
    lane: str
    outcome: str  # completed | rejected | aborted | unfinished
    minutes: float | None = None
    reason: str | None = None
    case_id: str | None = None
    vin_decision: str | None = None
    # the reader's time for the VIN check, in the lane (done while the inspector works through the checklist)
    vin_check_ms: float | None = None
    plate: str | None = None
    passages_confirmed_by_hand: int = 0  # the lane missed a passage the inspector then saw
    human_real_s: float = 0.0
    non_human_real_s: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # real seconds per step the people did not spend
    machine_steps: dict[str, float] = field(default_factory=dict)  # of which the machines were moving

    @property
    def machine_real_s(self) -> float:
        """Of non_human_real_s: the machines' own motion in the visit (site_sim.machine_time)."""
        return sum(self.machine_steps.values())

    @property
    def world_real_s(self) -> float:
        """The simulated world's own work in the visit: its camera's pictures, the people's glances at
        the arms and loops (the board simulators' control links). Not the software's."""
        return sum(s for name, s in self.steps.items() if name.startswith(WORLD_STEP))

    @property
    def after_visit_real_s(self) -> float:
        """The lane's work after the car has driven out (noticing the exit passage, closing the case): not
        part of the visit, which ends as the car leaves. (In life the next driver shows an ID card meanwhile;
        the site demo starts a lane's next car after it.)"""
        return sum(s for name, s in self.steps.items() if name.startswith(AFTER_VISIT))

    @property
    def added_real_s(self) -> float:
        """The real time the software added to the visit: not the people's, the machines' or the world's,
        and not the lane's after the car has gone."""
        return self.non_human_real_s - self.machine_real_s - self.world_real_s - self.after_visit_real_s

    @property
    def added_steps(self) -> dict[str, float]:
        """Each of the software's steps in the visit: its real seconds less the machines' motion in it."""
        return {
            name: s - self.machine_steps.get(name, 0.0)
            for name, s in self.steps.items()
            if not name.startswith((WORLD_STEP, AFTER_VISIT))
        }


class ChangeWatch:
    """The tablet page's change stream (`GET /api/stream`, Server-Sent Events), listened to as the page does:
    the inspector looks at the case again when the lane says something changed, not on a timer.

    `changes` counts the change events seen; a reconnection counts as one (something may have changed
    while the lane restarted). The stream sends the signed-in cookie of the tablet's client.
    """

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.changes = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def after(self, seen: int, timeout_s: float) -> None:
        """Return once a change after `seen` has come, or after `timeout_s` (a person glances anyway)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.changes != seen), timeout_s)

    async def _bump(self) -> None:
        async with self._changed:
            self.changes += 1
            self._changed.notify_all()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.http.stream("GET", "/api/stream", timeout=httpx.Timeout(30.0)) as resp:
                    if resp.status_code == 200:
                        async for line in resp.aiter_lines():
                            if line.startswith("data:"):
                                await self._bump()
            except httpx.HTTPError:
                pass
            await self._bump()
            await asyncio.sleep(0.2)


class Tablet:
    """The inspector's tablet session on one lane (JSON API, signed-in cookie, the page's change stream)."""

    def __init__(self, base_url: str, inspector_id: str, pin: str, patience_s: float = 120.0) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30.0)
        self.patience_s = patience_s
        self.inspector_id = inspector_id
        self.pin = pin
        self.watch = ChangeWatch(self.http)

    async def sign_in(self) -> None:
        answer = await self.call("POST", "/api/session", json={"inspector_id": self.inspector_id, "pin": self.pin})
        if not answer.get("ok"):
            raise JourneyError(f"inspector {self.inspector_id} could not sign in: {answer.get('error')}")
        self.watch.start()

    async def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """One API call, as a patient person makes it: while the lane restarts (connection refused)
        they wait and try again; if it forgot their session, they sign in again."""
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                resp = await self.http.request(method, path, **kw)
            except httpx.TransportError as exc:
                if time.monotonic() > deadline:
                    raise JourneyError(f"{method} {path}: the tablet did not answer ({exc!r})") from None
                await asyncio.sleep(0.2)
                continue
            if resp.status_code == 401 and path != "/api/session":
                await self.sign_in()
                continue
            if resp.status_code >= 500:
                raise JourneyError(f"{method} {path}: HTTP {resp.status_code}: {resp.text[:200]}")
            return resp.json()

    async def act(self, case_id: str, action: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """A case action the inspector takes; a refusal is an error the journey reports."""
        answer = await self.call(
            "POST", f"/api/cases/{case_id}/{action}", **({"json": body} if body is not None else {}), **kw
        )
        if not answer.get("ok"):
            raise JourneyError(f"{action} refused: {answer.get('error') or answer.get('detail')}")
        return answer

    async def case(self, case_id: str) -> dict[str, Any]:
        return (await self.call("GET", f"/api/cases/{case_id}"))["case"]

    async def close(self) -> None:
        await self.watch.stop()
        await self.http.aclose()


class Pictures:
    """What the cameras will see of one car, rendered ahead on a thread of its own from the moment it arrives.

    A real camera costs the site nothing; rendering a scene costs this machine 0.1-0.3 s, and at 600x every
    real second is ten simulated minutes, so rendered on the way it would pass for the software's time.
    The VIN scene comes first, then the inspector's photos, one at a time (the lanes' people share the cores).
    The thread runs at a lower priority (nice 10): where it and the lanes want the same core, the software
    being measured goes first (rendered at the same priority, the photos took the cores from the lane's
    VIN check). A thread of its own, not the journeys' pool: nothing else runs at its priority.
    """

    def __init__(self, vehicle: Vehicle) -> None:
        self.v = vehicle
        loop = asyncio.get_running_loop()
        self._ready: dict[str, asyncio.Future[Any]] = {k: loop.create_future() for k in ("scene", *PHOTOS_FORESEEN)}
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._render_all, args=(loop,), name="pictures", daemon=True)
        self._worker.start()

    def _render_all(self, loop: asyncio.AbstractEventLoop) -> None:
        from vision.synth import render_scene

        _give_way()
        jobs: list[tuple[str, Callable[[], Any]]] = [("scene", lambda: render_scene(self.v.vin, self.v.seed))]
        jobs += [(code, functools.partial(_jpeg_of, self.v, code)) for code in PHOTOS_FORESEEN]
        for key, job in jobs:
            if self._stop.is_set():
                return
            try:
                value = job()
            except Exception as exc:  # noqa: BLE001 - handed to whoever awaits this picture
                _call_soon(loop, _settle, self._ready[key], None, exc)
            else:
                _call_soon(loop, _settle, self._ready[key], value, None)

    async def scene(self) -> Any:
        """The frame the station's VIN camera takes of the car."""
        return await asyncio.shield(self._ready["scene"])

    async def photo(self, code: str) -> bytes:
        """The inspector's photo `code` of the car (JPEG)."""
        if code not in self._ready:
            return await asyncio.to_thread(_jpeg_of, self.v, code)
        return bytes(await asyncio.shield(self._ready[code]))

    def cancel(self) -> None:
        self._stop.set()
        for fut in self._ready.values():
            fut.cancel()


def _give_way() -> None:
    """Lower this thread's priority (Linux: each thread has its own nice value); elsewhere, leave it."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the demo's event loop closed while a picture was rendering
        loop.call_soon_threadsafe(fn, *args)


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


class Journey:
    """Plays one vehicle through one lane."""

    def __init__(
        self,
        *,
        vehicle: Vehicle,
        lane: str,
        tablet: Tablet,
        io: SimControl,
        issuer: SimControl,
        camera_dir: Path,
        provider: SimulatedProvider,
        speed: float,
        durations: HumanDurations,
        patience_s: float = 120.0,
        pictures: Pictures | None = None,
    ) -> None:
        self.v = vehicle
        self.pictures = pictures or Pictures(vehicle)
        self.lane = lane
        self.tablet = tablet
        self.io = io
        self.issuer = issuer
        self.camera_dir = camera_dir
        self.provider = provider
        self.speed = speed
        self.durations = durations
        self.rng = random.Random(vehicle.seed)
        self.patience_s = patience_s
        self.outcome = Outcome(vehicle, lane, "unfinished")
        self._windows: list[tuple[str, float, float]] = []  # (step, start, end), outermost steps only
        self._tapped: tuple[str, asyncio.Task[dict[str, Any]]] | None = None  # the last tap, its answer not awaited
        self._depth = 0
        self._left_at: float | None = None  # when the car drove out of the lane (the visit's end)

    async def human(self, step: str) -> None:
        """A person takes their time (simulated seconds, scaled to real). All of the sleep counts as theirs,
        including its waking late: that is this simulation's process, not the software under test."""
        delay = self.durations.draw(step, self.rng) / self.speed
        t0 = time.monotonic()
        await asyncio.sleep(delay)
        self.outcome.human_real_s += time.monotonic() - t0

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """Count the real time of one step of the visit under `name` (the per-step breakdown of the
        time not spent by people: software, look-ups, sped-up machines). A step inside another counts
        as part of the outer one."""
        t0 = time.monotonic()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                t1 = time.monotonic()
                self.outcome.steps[name] = self.outcome.steps.get(name, 0.0) + t1 - t0
                self._windows.append((name, t0, t1))

    async def world(self, fn: Any, *args: Any) -> Any:
        async with self.step(f"{WORLD_STEP}{fn.__name__.replace('_', ' ')}"):
            return await asyncio.to_thread(fn, *args)

    async def act(self, case_id: str, action: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """The inspector's action on the tablet, timed as its own step."""
        await self.settle()
        async with self.step(f"tablet: {action.split('/')[0]}"):
            return await self.tablet.act(case_id, action, body, **kw)

    async def tap(self, case_id: str, action: str, body: dict[str, Any] | None = None, **kw: Any) -> None:
        """An action whose answer the inspector does not wait for: they tap a checklist item or send a
        photo and turn to the next one while the tablet sends it. The next action or wait first settles
        it (the page sends one at a time); only the time still left then counts, as the software's."""
        await self.settle()
        self._tapped = (
            f"tablet: {action.split('/')[0]}",
            asyncio.create_task(self.tablet.act(case_id, action, body, **kw)),
        )

    async def settle(self) -> None:
        """Wait for the answer to the last tap (a refusal is the journey's error, as for `act`)."""
        if self._tapped is None:
            return
        name, task = self._tapped
        self._tapped = None
        async with self.step(name):
            await task

    def _drop_tap(self) -> None:
        """A visit that went wrong: the last tap's answer no longer matters."""
        if self._tapped is not None:
            task = self._tapped[1]
            self._tapped = None
            task.cancel()
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: it is part of what went wrong, reported already or moot

    async def until(self, case_id: str, pred: Any, what: str, patience_s: float | None = None) -> dict[str, Any]:
        """Wait (as a person would, patiently) until the case view satisfies `pred`."""
        await self.settle()
        async with self.step(f"wait: {what}"):
            return await self._until(case_id, pred, what, patience_s)

    async def _until(self, case_id: str, pred: Any, what: str, patience_s: float | None) -> dict[str, Any]:
        deadline = time.monotonic() + (self.patience_s if patience_s is None else patience_s)
        next_resume = time.monotonic() + 1.0
        while True:
            seen = self.tablet.watch.changes
            view = await self.tablet.case(case_id)
            if pred(view):
                return view
            if view.get("hold") and time.monotonic() >= next_resume:
                # The tablet shows the case on hold (a device fault); once the attendant has
                # dealt with the device, the inspector presses Resume. A refusal means not yet.
                next_resume = time.monotonic() + 1.0
                await self.tablet.call("POST", f"/api/cases/{case_id}/resume")
            if view["stage"] in TERMINAL and not pred(view):
                raise _Ended(view)
            if time.monotonic() > deadline:
                raise JourneyError(
                    f"{self.lane}: waited {self.patience_s:.0f}s for {what}; case at {view['stage']} "
                    f"(waiting: {view.get('waiting')}, hold: {view.get('hold')})"
                )
            await self.tablet.watch.after(seen, timeout_s=0.5)

    async def arm_open(self, barrier: str) -> None:
        async with self.step(f"wait: the {barrier} arm to open"):
            await self._arm_open(barrier)

    async def _arm_open(self, barrier: str) -> None:
        deadline = time.monotonic() + self.patience_s
        while True:
            state = await self.world(self.io.state)
            if _arm(state, barrier) == "open":
                return
            if time.monotonic() > deadline:
                raise JourneyError(f"{self.lane}: the {barrier} barrier never opened")
            await asyncio.sleep(WORLD_GLANCE_S)

    async def run(self) -> Outcome:
        # the attendant's look at the magazines as the car pulls up: before its visit, not part of it
        await asyncio.to_thread(top_up_magazines, self.issuer)
        marks = await asyncio.to_thread(mark_boards, (self.io, self.issuer))
        try:
            outcome = await self._timed_run()
        finally:
            self.pictures.cancel()
        await self._split_out_machine_time(marks)
        return outcome

    async def _split_out_machine_time(self, marks: list[tuple[Board, WorldMark]]) -> None:
        """Take the machines' own motion during each step out of the time the software added (if a board
        simulator cannot say, none is taken out: the software's share is overstated, never understated)."""
        try:
            moving = await asyncio.to_thread(moving_since, marks)
        except (OSError, SimControlError):
            return
        for name, t0, t1 in self._windows:
            if name.startswith(AFTER_VISIT):
                continue  # the whole step is left out of the visit: its machines' motion with it
            self.outcome.machine_steps[name] = self.outcome.machine_steps.get(name, 0.0) + covered_s(moving, t0, t1)

    async def _timed_run(self) -> Outcome:
        started = time.monotonic()
        try:
            await self._run()
        except _Ended as ended:
            self._drop_tap()
            view = ended.view
            self.outcome.outcome = "rejected" if view.get("outcome") == "rejected" else "aborted"
            self.outcome.reason = view.get("reason")
        except (JourneyError, httpx.HTTPError, OSError, RuntimeError, KeyError) as exc:
            self.outcome.reason = f"{type(exc).__name__}: {exc}"
            self._drop_tap()
            if await self._clear_the_lane():
                self.outcome.outcome = "aborted"  # the staff aborted the case with a reason; the car is out
        self.outcome.non_human_real_s = time.monotonic() - started - self.outcome.human_real_s
        # what no step accounts for: the journey's own code, a person's sleep waking late on a busy machine
        self.outcome.steps["between the steps"] = max(
            0.0, self.outcome.non_human_real_s - sum(self.outcome.steps.values())
        )
        return self.outcome

    async def _run(self) -> None:
        t = self.tablet
        await self.world(self.io.vehicle_arrive, "entry")
        await self.human("show_id_card")
        async with self.step("tablet: open case"):
            opened = await t.call("POST", "/api/cases", json={"station": "A", "id_number": self.v.owner_id_number})
        if not opened.get("ok"):
            raise JourneyError(f"{self.lane}: case not opened: {opened.get('error')}")
        case_id = opened["case"]["case_id"]
        self.outcome.case_id = case_id
        t_open = time.monotonic()
        view = await self.until(case_id, lambda c: c["stage"] != "opened" or c.get("outcome"), "partner records")
        if view.get("outcome") == "rejected" or view["stage"] == "closed":
            await self.world(self.io.vehicle_leave, "entry")
            await self._clear_of("entry")
            raise _Ended(view)
        if view["needs_vehicle_choice"]:
            # The owner has several pending cars: the inspector matches the one at the lane by its VIN plate.
            await self.human("choose_vehicle")
            if self.v.vin not in view["vehicle_choices"]:
                await self.act(case_id, "reject", {"reason": f"the vehicle {self.v.vin} is not among the owner's"})
                await self.world(self.io.vehicle_leave, "entry")
                await self._clear_of("entry")
                raise _Ended(await t.case(case_id))
            view = (await self.act(case_id, "vehicle", {"vin": self.v.vin}))["case"]
        if view.get("record_problems"):
            # The inspector sees the problem on the tablet and turns the car away.
            await self.human("show_id_card")
            await self.act(case_id, "reject", {"reason": "partner records: " + "; ".join(view["record_problems"])})
            await self.world(self.io.vehicle_leave, "entry")
            await self._clear_of("entry")
            raise _Ended(await t.case(case_id))
        # Drive onto the inspection station.
        async with self.step(f"{WORLD_STEP}the camera photographs the VIN"):
            frame = await self.pictures.scene()
            await asyncio.to_thread(upload_frame, self.camera_dir, frame, 90)
        await self.act(case_id, "admit")
        await self.arm_open("entry")
        view = await self._drive_through(case_id, "entry", lambda c: c["stage"] != "records_fetched")
        # The lane checks the VIN on its camera while the inspector works through the checklist (the tablet
        # offers it from the moment the car is in); the inspector looks at the VIN check when done with it.
        failing = self.rng.choice(view["checklist"]) if self.v.fails_inspection else None
        await self._inspect(case_id, view, failing)
        view = await self.until(case_id, lambda c: c.get("vin_read") is not None, "the VIN read")
        vin_read = view.get("vin_read") or {}
        self.outcome.vin_decision = vin_read.get("decision")
        self.outcome.vin_check_ms = vin_read.get("ms")
        if view["stage"] == "admitted":
            # The reader asked for review (or differs from the certificate): the inspector reads the plate by eye.
            await self.human("inspection_item")
            if self.v.vin != view.get("certificate_vin"):
                await self.act(
                    case_id, "reject", {"reason": f"VIN on the vehicle {self.v.vin} differs from the certificate"}
                )
                await self._leave(case_id)
            await self.act(case_id, "vin/confirm", {"vin": self.v.vin, "reason": "checked on the vehicle"})
        await self.until(case_id, lambda c: c["stage"] != "admitted", "VIN confirmed")
        await self.act(case_id, "conclude")
        if failing:
            await self._leave(case_id)
            return
        view = await self.until(case_id, lambda c: bool(c.get("plate_options")), "plate options")
        await self.human("choose_plate")
        choice = self.rng.choice(view["plate_options"][: max(1, len(view["plate_options"]))])
        await self.act(case_id, "plate", {"number": choice, "composed": False})
        view = await self.until(
            case_id, lambda c: bool((c.get("payment") or {}).get("payment_id")), "the payment request"
        )
        await self.human("pay")
        pay = view["payment"]
        async with self.step("payment provider"):
            await asyncio.to_thread(self.provider.pay, pay["payment_id"], int(pay["amount_cents"]))
        view = await self.until(case_id, lambda c: c["stage"] == "plates_issued", "plates issued")
        self.outcome.plate = view.get("plate")
        await self.world(self.issuer.take_plates)
        await self.human("fit_plates")
        await self.act(case_id, "fitted")
        await self._leave(case_id)
        view = await t.case(case_id)
        if view.get("outcome") == "registered" and self._left_at is not None:
            self.outcome.outcome = "completed"
            self.outcome.minutes = (self._left_at - t_open) * self.speed / 60.0
        else:
            raise _Ended(view)

    async def _inspect(self, case_id: str, view: dict[str, Any], failing: str | None) -> None:
        """The checklist and the photos, each tapped or sent as the inspector turns to the next."""
        for item in view["checklist"]:
            await self.human("inspection_item")
            await self.tap(case_id, "items", {"item": item, "result": "fail" if item == failing else "pass"})
        for code in view["required_photos"]:
            await self.human("photo")
            async with self.step(f"{WORLD_STEP}the inspector takes a photo"):
                jpeg = await self.pictures.photo(code)
            files = {"file": (f"{code}.jpg", jpeg, "image/jpeg")}
            await self.tap(case_id, f"photos/{code}", files=files)

    async def _clear_the_lane(self) -> bool:
        """After a visit that went wrong, the staff abort its case and see the car out of the lane.

        The next car must find a free station (one open case per station) and an
        empty entry loop; how this visit failed is already in `outcome.reason`.
        """
        try:
            entry = (await self.world(self.io.state))["barriers"]["entry"]
            if self.outcome.case_id:
                case_id = self.outcome.case_id
                view = await self.tablet.case(case_id)
                if view["stage"] not in ("closed", "leaving", "exit_open"):
                    await self.act(case_id, "abort", {"reason": "visit could not go on (site demo staff)"})
                    view = await self.tablet.case(case_id)
                if view["stage"] != "closed" and entry["vehicle"] == "none":
                    await self._leave(case_id)  # the car is in the lane: out through the exit
            if entry["vehicle"] in ("waiting", "wants_to_pass"):
                await self.world(self.io.vehicle_leave, "entry")
            await self._clear_of("entry")
        except _Ended:
            pass
        except (JourneyError, httpx.HTTPError, OSError, RuntimeError, KeyError) as exc:
            self.outcome.reason = f"{self.outcome.reason}; and the lane could not be cleared: {exc}"
            return False
        if not self.outcome.case_id:
            return False
        view = await self.tablet.case(self.outcome.case_id)
        return view["stage"] == "closed" and view.get("outcome") == "aborted"

    async def _leave(self, case_id: str) -> None:
        """The inspector opens the exit (plates fitted, or leaving without plates) and the car drives out."""
        view = await self.until(
            case_id,
            lambda c: c["stage"] in ("plates_fitted", "leaving", "exit_open", "closed"),
            "the case to be ready to leave",
        )
        if view["stage"] in ("plates_fitted", "leaving"):
            await self.act(case_id, "exit")
        view = await self.until(case_id, lambda c: c["stage"] in ("exit_open", "closed"), "the exit barrier")
        if view["stage"] == "exit_open":
            await self.arm_open("exit")
            await self.human("drive_out")
            await self.world(self.io.vehicle_pass, "exit")
            async with self.step("wait: the car to clear the exit"):
                await self._clear_of("exit")
            self._left_at = time.monotonic()  # the visit ends as the car drives out
            # what follows is the lane's, after the car has gone (the inspector's confirmation of a missed
            # passage too): one step outside the visit's time
            async with self.step(f"{AFTER_VISIT}wait: the lane to notice the exit passage"):
                await self._noticed(case_id, "exit", lambda c: c["stage"] == "closed")
        view = await self.until(case_id, lambda c: c["stage"] == "closed", "the case to close")
        if view.get("outcome") != "registered":
            raise _Ended(view)

    async def _drive_through(self, case_id: str, barrier: str, noticed: Any) -> dict[str, Any]:
        """The car drives under the open arm; the case view once the lane has noticed it."""
        await self.world(self.io.vehicle_pass, barrier)
        return await self._noticed(case_id, barrier, noticed)

    async def _noticed(self, case_id: str, barrier: str, noticed: Any) -> dict[str, Any]:
        """The case view once the lane has noticed the car's passage. If it has not a while after the car
        is through (its loop events were lost, e.g. while the lane restarted), the inspector confirms it
        by eye on the tablet, as the lane's operator guide says; the journey counts it."""
        try:
            return await self.until(case_id, noticed, f"the lane to notice the {barrier} passage", patience_s=10.0)
        except JourneyError:
            await self._clear_of(barrier)
            view = await self.tablet.case(case_id)
            if noticed(view):
                return view
            answer = await self.act(case_id, "passed", {"barrier": barrier})
            self.outcome.passages_confirmed_by_hand += 1
            return answer["case"]

    async def _clear_of(self, barrier: str) -> None:
        """Until the car is off the loop and out of the beam under `barrier` (the driver's glances)."""
        deadline = time.monotonic() + self.patience_s
        while (await self.world(self.io.state))["barriers"][barrier]["vehicle"] != "none":
            if time.monotonic() > deadline:
                raise JourneyError(f"{self.lane}: the {barrier} loop never cleared")
            await asyncio.sleep(WORLD_GLANCE_S)


class _Ended(Exception):
    def __init__(self, view: dict[str, Any]) -> None:
        super().__init__(view.get("reason"))
        self.view = view


def _arm(state: dict[str, Any], barrier: str) -> str:
    return str(state["barriers"][barrier]["arm"])


def _jpeg_of(vehicle: Vehicle, code: str) -> bytes:
    """A photo the inspector takes (the VIN photo shows the plate; others a frame of the car)."""
    from vision.synth import render_scene

    frame = render_scene(vehicle.vin, vehicle.seed + int(code))
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()
