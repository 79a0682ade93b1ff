"""Passage detection in BoardHardware when the slow status poll and the board's presence events interleave.

A status reply is the board's state when it answered; presence events the board sent after it can be applied
before the polling task resumes (they came in the same read from the port, or the loop was busy). The scripted
tests replay such interleavings exactly; the last one does it with the real firmware on the simulated world.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge.lanebus.boards import BarrierStatus, IoStatus
from edge.lanebus.client import BoardEvent
from lane_controller.hardware import BoardHardware

from lane_helpers import await_until


class ScriptedIo:
    """Stands in for the I/O board only where the timing must be exact: the test answers each status read."""

    online = True

    def __init__(self) -> None:
        self.replies: asyncio.Queue[asyncio.Future[IoStatus]] = asyncio.Queue()

    async def status(self) -> IoStatus:
        reply: asyncio.Future[IoStatus] = asyncio.get_running_loop().create_future()
        self.replies.put_nowait(reply)
        return await reply

    async def close(self) -> None:
        self.online = False


def snapshot(*, loop: bool, beam: bool) -> IoStatus:
    def barrier(loop: bool, beam: bool) -> BarrierStatus:
        return BarrierStatus(arm="open", loop_occupied=loop, beam_blocked=beam, edge=False, limit_open=True,
                             limit_closed=False, light="green", fault="none")

    return IoStatus(uptime_ms=1, estop=False, host_link=True,
                    barriers={"entry": barrier(loop, beam), "exit": barrier(False, False)})


def presence(input_: str, present: bool) -> BoardEvent:
    return BoardEvent("presence_changed", {"barrier": "entry", "input": input_, "present": present})


async def scripted_hardware() -> tuple[BoardHardware, ScriptedIo, list[str]]:
    hw = BoardHardware("socket://127.0.0.1:9", "socket://127.0.0.1:9")  # never started: the script is the board
    io = ScriptedIo()
    hw.io = io  # type: ignore[assignment]
    passed: list[str] = []

    async def on_passed(barrier: str) -> None:
        passed.append(barrier)

    hw.on_vehicle_passed = on_passed
    return hw, io, passed


async def poll_answered_late(hw: BoardHardware, io: ScriptedIo, st: IoStatus, *events: BoardEvent) -> None:
    """One poll whose reply was taken before `events` but reaches the poll only after they were applied."""
    poll = asyncio.create_task(hw._poll_once())
    reply = await io.replies.get()
    reply.set_result(st)
    for ev in events:
        hw._on_event(ev)
    await poll


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def passages(script: Callable[[BoardHardware, ScriptedIo], Awaitable[None]]) -> list[str]:
    """Run one scripted interleaving of events and status reads; the passages the lane was told of."""
    async def main() -> list[str]:
        hw, io, passed = await scripted_hardware()
        await script(hw, io)
        await settle()
        return passed

    return asyncio.run(main())


def test_a_vehicle_arriving_while_a_status_read_is_on_its_way_is_still_counted():
    """The lane's failure under load: a snapshot from before the vehicle reached the loop, applied after the loop
    event, made the lane believe the loop empty; the beam then never counted and the passage was lost."""
    async def script(hw: BoardHardware, io: ScriptedIo) -> None:
        await poll_answered_late(hw, io, snapshot(loop=False, beam=False), presence("loop", True))
        for ev in (presence("beam", True), presence("loop", False), presence("beam", False)):
            hw._on_event(ev)

    assert passages(script) == ["entry"]


def test_a_crossing_that_cleared_while_a_status_read_was_on_its_way_counts_once():
    """A snapshot from the middle of the crossing, applied after the clear events, must not arm it again."""
    async def script(hw: BoardHardware, io: ScriptedIo) -> None:
        hw._on_event(presence("loop", True))
        hw._on_event(presence("beam", True))
        await poll_answered_late(hw, io, snapshot(loop=True, beam=True), presence("loop", False), presence("beam", False))
        await settle()
        await poll_answered_late(hw, io, snapshot(loop=False, beam=False))  # the next poll: all clear

    assert passages(script) == ["entry"]


def test_the_poll_still_completes_a_passage_whose_clear_events_were_missed():
    async def script(hw: BoardHardware, io: ScriptedIo) -> None:
        hw._on_event(presence("loop", True))
        hw._on_event(presence("beam", True))
        await poll_answered_late(hw, io, snapshot(loop=False, beam=False))  # the events saying so were lost
        await settle()
        await poll_answered_late(hw, io, snapshot(loop=False, beam=False))

    assert passages(script) == ["entry"]


def test_a_vehicle_reaching_the_loop_during_a_late_status_read_passes_on_the_real_firmware(boards):
    """The same race with the real firmware and host driver: the status read is answered before the vehicle
    reaches the loop and resumes only after the loop event came in, as a busy lane loop does."""
    io_sim, issuer_sim = boards
    world = io_sim.control()

    async def main() -> list[str]:
        hw = BoardHardware(io_sim.url, issuer_sim.url, poll_s=3600.0)  # the test runs the poll that matters
        passed: list[str] = []
        loop_seen = asyncio.Event()

        async def on_passed(barrier: str) -> None:
            passed.append(barrier)

        async def on_fault(device: str, detail: str, recovered: bool) -> None:
            pass

        hw.on_vehicle_passed, hw.on_fault = on_passed, on_fault
        hw.io.on_event(lambda ev: loop_seen.set() if ev.name == "presence_changed" and ev.data["input"] == "loop"
                       and ev.data["present"] else None)
        await hw.start()
        try:
            read_status = hw.io.status

            async def answered_before_the_vehicle_came() -> IoStatus:
                st = await read_status()
                assert not st.barriers["entry"].loop_occupied
                await asyncio.to_thread(world.vehicle_pass, "entry")  # waits on the loop at the closed arm
                await asyncio.wait_for(loop_seen.wait(), 10)
                return st

            hw.io.status = answered_before_the_vehicle_came  # type: ignore[method-assign]
            await hw._poll_once()
            hw.io.status = read_status  # type: ignore[method-assign]
            await hw.open_barrier("entry")
            await await_until(lambda: world.state()["barriers"]["entry"]["vehicles_passed"] == 1, 20, "the vehicle drove through")
            await await_until(lambda: passed, 5, "the passage reported to the lane")
            await hw._poll_once()  # a fresh read of the now clear lane must not count the vehicle again
            await settle()
            return passed
        finally:
            await hw.close()

    assert asyncio.run(main()) == ["entry"]


def test_starting_on_boards_that_answer_reports_no_link_fault(boards):
    """The poll starts after the handshake: a lane that starts reports no 'link down' (and no recovery) for a
    link that was never down."""
    io_sim, issuer_sim = boards
    faults: list[tuple[str, str, bool]] = []

    async def main() -> None:
        hw = BoardHardware(io_sim.url, issuer_sim.url, poll_s=0.05)

        async def on_fault(device: str, detail: str, recovered: bool) -> None:
            faults.append((device, detail, recovered))

        hw.on_fault = on_fault
        read_status, reads = hw.io.status, 0

        async def counted_status() -> IoStatus:
            nonlocal reads
            reads += 1
            return await read_status()

        hw.io.status = counted_status  # type: ignore[method-assign]
        await hw.start()
        try:
            await await_until(lambda: reads >= 3, 10, "three status polls on the real board")
        finally:
            await hw.close()

    asyncio.run(main())
    assert faults == []


def test_closing_waits_until_the_status_poll_has_stopped():
    """Without this the poll outlived close(), found the closed link offline and reported a false 'link down'."""
    faults: list[tuple[str, str, bool]] = []

    async def main() -> bool:
        hw, io, _ = await scripted_hardware()

        async def on_fault(device: str, detail: str, recovered: bool) -> None:
            faults.append((device, detail, recovered))

        hw.on_fault = on_fault
        hw._watch = asyncio.create_task(hw._poll())
        await io.replies.get()  # the poll is waiting for the board's answer
        await hw.close()
        return hw._watch.done()

    assert asyncio.run(main()) is True
    assert faults == []
