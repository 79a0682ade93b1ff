"""Passage detection: the pure PassageDetector (loop and photo-eye in, passages out) when the slow status poll
and the board's presence events interleave, and BoardHardware on the real firmware through its public surface.

A status reply is the board's state when it answered; presence events the board sent after it can be applied
before the polling task resumes (they came in the same read from the port, or the loop was busy). The detector
tests replay such interleavings exactly; the last ones run the real firmware on the simulated world.
"""

from __future__ import annotations

import asyncio

from lane_helpers import await_until

from lane_controller.hardware import BoardHardware, HardwareListener, PassageDetector

CLEAR = {"entry": (False, False), "exit": (False, False)}


def test_a_vehicle_arriving_while_a_status_read_is_on_its_way_is_still_counted():
    """The lane's failure under load: a snapshot from before the vehicle reached the loop, applied after the loop
    event, made the lane believe the loop empty; the beam then never counted and the passage was lost."""
    d = PassageDetector()
    mark = d.mark()  # the status read goes out
    assert not d.presence("entry", "loop", True)  # the vehicle reaches the loop
    assert d.snapshot(mark, CLEAR) == []  # the older reply arrives: not applied to the entry
    passed = [d.presence("entry", "beam", True), d.presence("entry", "loop", False), d.presence("entry", "beam", False)]
    assert passed == [False, False, True]


def test_a_crossing_that_cleared_while_a_status_read_was_on_its_way_counts_once():
    """A snapshot from the middle of the crossing, applied after the clear events, must not arm it again."""
    d = PassageDetector()
    d.presence("entry", "loop", True)
    d.presence("entry", "beam", True)
    mark = d.mark()
    assert [d.presence("entry", "loop", False), d.presence("entry", "beam", False)] == [False, True]
    assert d.snapshot(mark, {"entry": (True, True), "exit": (False, False)}) == []
    assert d.snapshot(d.mark(), CLEAR) == []  # the next poll: all clear, nothing counted again


def test_the_poll_still_completes_a_passage_whose_clear_events_were_missed():
    d = PassageDetector()
    d.presence("entry", "loop", True)
    d.presence("entry", "beam", True)
    assert d.snapshot(d.mark(), CLEAR) == ["entry"]  # the events saying so were lost
    assert d.snapshot(d.mark(), CLEAR) == []


def test_a_pedestrian_in_the_beam_alone_is_not_a_vehicle():
    d = PassageDetector()
    assert [d.presence("exit", "beam", True), d.presence("exit", "beam", False)] == [False, False]
    assert d.snapshot(d.mark(), CLEAR) == []


class Heard:
    """What the hardware told the lane."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.faults: list[tuple[str, str, bool]] = []
        self.progress: list[tuple[str, str, int]] = []

    def listener(self) -> HardwareListener:
        async def passed(barrier: str) -> None:
            self.passed.append(barrier)

        async def fault(device: str, detail: str, recovered: bool) -> None:
            self.faults.append((device, detail, recovered))

        return HardwareListener(passed, fault, lambda *a: self.progress.append(a))


def test_a_vehicle_through_the_entry_on_the_real_firmware_is_one_passage_with_a_busy_poll(boards):
    """Events and a status poll every 10 ms interleave in every way the loop allows: still exactly one."""
    io_sim, issuer_sim = boards
    world = io_sim.control()
    heard = Heard()

    async def main() -> None:
        hw = BoardHardware(io_sim.url, issuer_sim.url, poll_s=0.01)
        await hw.start(heard.listener())
        try:
            await asyncio.to_thread(world.vehicle_pass, "entry")  # waits on the loop at the closed arm
            await hw.open_barrier("entry")
            await await_until(
                lambda: world.state()["barriers"]["entry"]["vehicles_passed"] == 1, 20, "the vehicle drove through"
            )
            await await_until(lambda: heard.passed, 5, "the passage reported to the lane")
            polls = hw.io.stats.commands
            await await_until(lambda: hw.io.stats.commands >= polls + 5, 5, "more polls of the clear lane")
        finally:
            await hw.close()

    asyncio.run(main())
    assert heard.passed == ["entry"]


def test_starting_on_boards_that_answer_reports_no_link_fault(boards):
    """The poll starts after the handshake: a lane that starts reports no 'link down' (and no recovery) for a
    link that was never down."""
    io_sim, issuer_sim = boards
    heard = Heard()

    async def main() -> None:
        hw = BoardHardware(io_sim.url, issuer_sim.url, poll_s=0.05)
        await hw.start(heard.listener())
        try:
            await await_until(lambda: hw.io.stats.commands >= 3, 10, "three status polls on the real board")
        finally:
            await hw.close()

    asyncio.run(main())
    assert heard.faults == []


def test_closing_waits_until_the_status_poll_and_the_notices_have_stopped(boards):
    """Without this the poll outlived close(), found the closed link offline and reported a false 'link down'."""
    io_sim, issuer_sim = boards
    heard = Heard()

    async def main() -> bool:
        hw = BoardHardware(io_sim.url, issuer_sim.url, poll_s=0.0)  # always polling: close() lands mid-read
        await hw.start(heard.listener())
        await await_until(lambda: hw.io.stats.commands >= 3, 10, "the poll is reading")
        await hw.close()
        return hw.running

    assert asyncio.run(main()) is False
    assert heard.faults == []
