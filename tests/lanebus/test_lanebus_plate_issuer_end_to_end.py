"""Host driver + real plate issuer firmware on the simulated mechanism."""

from __future__ import annotations

import asyncio
import collections

import pytest
from lanebus_helpers import EventRecorder, until

from edge.lanebus import CommandRefused, PlateIssuerDriver
from firmware import lanebus as lb


def plates_by_text(sim) -> collections.Counter:
    return collections.Counter(p["text"] for p in sim.control().state()["issued"])


def test_issue_makes_one_pair_and_a_repeat_returns_the_job_state(issuer_sim):
    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url) as pi:
            rec = EventRecorder(pi)
            js = await pi.issue("J-1", "green", "京AD12345")
            assert js.state in ("feeding", "accepted") and js.plates_done == 0
            again = await pi.issue("J-1", "green", "京AD12345")  # e.g. the host restarted
            assert again.job_id == "J-1"
            done = await pi.wait_job("J-1", timeout_s=10)
            assert done.plates_done == 2
            assert (await pi.issue("J-1", "green", "京AD12345")).state == "done"
            await until(lambda: rec.has("job_done", job_id="J-1"), 2, "job_done event")
            assert rec.has("job_progress", job_id="J-1", state="printing")
            with pytest.raises(CommandRefused) as e:
                await pi.issue("J-1", "blue", "京A99999")
            assert e.value.code == lb.E_JOB_CONFLICT

    asyncio.run(scenario())
    assert plates_by_text(issuer_sim) == {"京AD12345": 2}


def test_jam_pauses_the_job_and_clear_fault_finishes_it_with_exactly_two_plates(issuer_sim):
    ctl = issuer_sim.control()

    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url) as pi:
            rec = EventRecorder(pi)
            ctl.inject_fault("jam")
            await pi.issue("J-2", "blue", "京B12345")
            js = await pi.wait_job("J-2", ("paused",), timeout_s=10)
            assert js.fault == "jam"
            await until(lambda: rec.has("fault", fault="jam", raised=True), 2, "fault event")
            with pytest.raises(CommandRefused) as e:
                await pi.issue("J-3", "blue", "京B12346")
            assert e.value.code == lb.E_BUSY
            ctl.clear_fault()  # the operator removes the stuck blank
            st = await pi.clear_fault()
            assert st.fault == "none"
            done = await pi.wait_job("J-2", timeout_s=10)
            assert done.plates_done == 2

    asyncio.run(scenario())
    assert plates_by_text(issuer_sim) == {"京B12345": 2}


def test_cover_open_refuses_clear_until_closed(issuer_sim):
    ctl = issuer_sim.control()

    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url) as pi:
            await pi.issue("J-4", "blue", "京C12345")
            ctl.inject_fault("cover_open")
            await pi.wait_job("J-4", ("paused",), timeout_s=5)
            with pytest.raises(CommandRefused) as e:
                await pi.clear_fault()
            assert e.value.code == lb.E_COVER_OPEN
            ctl.clear_fault()
            await until(lambda: _cleared(pi), 5, "fault cleared")
            await pi.wait_job("J-4", timeout_s=10)

    asyncio.run(scenario())
    assert plates_by_text(issuer_sim) == {"京C12345": 2}


async def _cleared(pi: PlateIssuerDriver) -> bool:
    try:
        return (await pi.clear_fault()).fault == "none"
    except CommandRefused:
        return False


def test_print_failure_spoils_one_blank_and_the_job_still_makes_two_plates(issuer_sim):
    ctl = issuer_sim.control()

    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url) as pi:
            ctl.inject_fault("print_failure")
            await pi.issue("J-5", "yellow", "京D12345")
            js = await pi.wait_job("J-5", ("paused",), timeout_s=10)
            assert js.fault == "print_failure"
            ctl.clear_fault()
            await pi.clear_fault()
            await pi.wait_job("J-5", timeout_s=10)

    asyncio.run(scenario())
    st = issuer_sim.control().state()
    assert plates_by_text(issuer_sim) == {"京D12345": 2}
    assert st["magazines"]["yellow"] == 50 - 3  # one blank spoiled


def test_empty_magazine_refuses_new_jobs_until_refilled(issuer_sim):
    ctl = issuer_sim.control()

    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url) as pi:
            ctl.inject_fault("magazine_empty", plate_type="blue")
            await until(lambda: _empty(pi), 2, "magazine reported empty")
            with pytest.raises(CommandRefused) as e:
                await pi.issue("J-6", "blue", "京E12345")
            assert e.value.code == lb.E_MAGAZINE_EMPTY
            ctl.refill("blue", 10)
            await until(lambda: _not_empty(pi), 2, "refill seen")
            await pi.issue("J-6", "blue", "京E12345")
            await pi.wait_job("J-6", timeout_s=10)

    asyncio.run(scenario())


async def _empty(pi: PlateIssuerDriver) -> bool:
    return "blue" in (await pi.status()).magazines_empty


async def _not_empty(pi: PlateIssuerDriver) -> bool:
    return not await _empty(pi)


def test_board_reset_mid_job_keeps_the_journal_and_never_issues_a_second_pair(issuer_sim):
    ctl = issuer_sim.control()

    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url, reopen_interval_s=0.1) as pi:
            rec = EventRecorder(pi)
            await pi.issue("J-7", "blue", "京F12345")
            await until(lambda: _one_plate(issuer_sim), 10, "first plate out")
            # the world counts a plate once it has left the slot, the board once its exit beam
            # clears a moment later: cut the power after the board has counted it
            await until(lambda: _plates_done(pi, "J-7", 1), 5, "the board counts the first plate")
            ctl.power_cycle()
            await until(lambda: rec.has("board_reset"), 6, "host notices the board reset")
            # the board's boot-time FAULT event is held until acknowledged and re-sent after the HELLO
            await until(lambda: rec.has("fault", fault="reset_during_job", raised=True), 3, "fault event")
            js = await pi.issue("J-7", "blue", "京F12345")  # the host retries after the reset
            assert js.state == "interrupted" and js.plates_done == 1
            st = await pi.status()
            assert st.fault == "reset_during_job"
            ctl.clear_fault()
            await pi.clear_fault()
            assert (await pi.job_status("J-7")).state == "interrupted"

    asyncio.run(scenario())
    assert plates_by_text(issuer_sim) == {"京F12345": 1}


async def _plates_done(pi: PlateIssuerDriver, job_id: str, n: int) -> bool:
    return (await pi.job_status(job_id)).plates_done >= n


def _one_plate(sim) -> bool:
    return len(sim.control().state()["issued"]) == 1


def test_journal_file_survives_a_simulator_restart(tmp_path):
    from firmware.sim.server import SimBoardServer

    journal = str(tmp_path / "issuer-flash.bin")

    async def issue(url):
        async with PlateIssuerDriver(url) as pi:
            await pi.issue("J-8", "green", "京G12345")
            return await pi.wait_job("J-8", timeout_s=10)

    async def ask(url):
        async with PlateIssuerDriver(url) as pi:
            again = await pi.issue("J-8", "green", "京G12345")
            return again, await pi.job_status("J-8")

    with SimBoardServer("plate-issuer", time_scale=20, journal_path=journal) as sim:
        assert asyncio.run(issue(sim.url)).state == "done"
    with SimBoardServer("plate-issuer", time_scale=20, journal_path=journal) as sim:
        again, status = asyncio.run(ask(sim.url))
        assert again.state == status.state == "done" and again.plates_done == 2
        assert sim.control().state()["issued"] == []  # the new board made nothing


def test_a_socket_link_sends_each_frame_at_once(issuer_sim):
    """The TCP stand-in for the serial cable must not hold frames back (Nagle): a command written just
    after an EVENT_ACK waited for the board's delayed acknowledgement, 40 ms."""
    import socket

    async def scenario():
        async with PlateIssuerDriver(issuer_sim.url) as pi:
            port = pi.client._port
            assert port is not None
            assert port._socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1

    asyncio.run(scenario())
