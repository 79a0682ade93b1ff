"""Host driver + real firmware on the simulated I/O board over the TCP serial link."""

from __future__ import annotations

import asyncio

import pytest
from lanebus_helpers import EventRecorder, FirmwarePort, NoisyProxy, until

from edge.lanebus import BoardClient, BoardOffline, CommandRefused, IoBoardDriver
from edge.lanebus.client import WrongBoard
from firmware import lanebus as lb


def no_safety_violation(sim) -> list:
    return [
        e
        for e in sim.world_log()
        if e["event"] == "arm_struck_presence" or (e["event"] == "arm_closing" and e.get("presence"))
    ]


def test_barrier_opens_vehicle_passes_and_barrier_closes(io_sim):
    ctl = io_sim.control()

    async def scenario():
        async with IoBoardDriver(io_sim.url) as io:
            rec = EventRecorder(io)
            assert io.info.kind == "io-board" and io.info.protocol_version == "1.0"
            ctl.vehicle_arrive("entry")
            assert await io.open_barrier("entry") == "opening"
            await io.wait_arm("entry", "open", 5)
            with pytest.raises(CommandRefused) as refused:
                await io.close_barrier("entry")  # the car stands on the loop
            assert refused.value.code == lb.E_OCCUPIED and refused.value.reason == "OCCUPIED"
            ctl.vehicle_pass("entry")
            await until(lambda: ctl.state()["barriers"]["entry"]["vehicles_passed"] == 1, 10, "vehicle passed")
            await until(lambda: _clear(io), 5, "loop and beam clear")
            assert await io.close_barrier("entry") == "closing"
            await io.wait_arm("entry", "closed", 5)
            await until(lambda: rec.has("barrier_closed", barrier="entry"), 2, "closed event")
            assert rec.has("barrier_opened", barrier="entry")
            assert rec.has("barrier_refused", barrier="entry", reason="OCCUPIED")
            assert rec.has("presence_changed", barrier="entry", input="beam", present=True)
            assert io.stats.frames_rx > 0 and io.stats.rtt_ms_p50 is not None

    asyncio.run(scenario())
    assert no_safety_violation(io_sim) == []


async def _clear(io: IoBoardDriver) -> bool:
    st = (await io.status()).barriers["entry"]
    return not (st.loop_occupied or st.beam_blocked)


def test_presence_during_close_reverses_the_arm(io_sim):
    ctl = io_sim.control()

    async def scenario():
        async with IoBoardDriver(io_sim.url) as io:
            rec = EventRecorder(io)
            await io.open_barrier("exit")
            await io.wait_arm("exit", "open", 5)
            await io.close_barrier("exit")
            await until(lambda: ctl.state()["barriers"]["exit"]["pos"] < 0.8, 5, "arm going down")
            ctl.block_beam("exit", 3.0)  # someone walks under the arm
            await until(lambda: rec.has("barrier_reversed", barrier="exit"), 2, "reversal event")
            await io.wait_arm("exit", "open", 5)

    asyncio.run(scenario())
    assert no_safety_violation(io_sim) == []


def test_usb_unplug_goes_offline_then_reopens_and_pending_command_completes(io_sim):
    ctl = io_sim.control()

    async def scenario():
        async with IoBoardDriver(io_sim.url, reopen_interval_s=0.1) as io:
            rec = EventRecorder(io)
            ctl.unplug(1.0)
            await until(lambda: not io.online, 2, "offline")
            # issued while unplugged: completes once the board is back
            assert await io.set_light("entry", "green") == "green"
            assert io.online and io.stats.reconnects >= 1
            assert rec.has("offline") and rec.has("online")

    asyncio.run(scenario())
    assert io_sim.firmware.link.executed[lb.SET_LIGHT] == 1


def test_silent_board_is_declared_offline_after_the_documented_silence(io_sim):
    proxy = NoisyProxy(io_sim.port, corrupt=0, drop=0)

    async def scenario():
        client = BoardClient(proxy.url, expected_kind="io-board", offline_after_s=0.6, reopen_interval_s=0.1)
        await client.start()
        try:
            rec = EventRecorder(client)
            proxy.blackhole = True
            await until(lambda: not client.online, 3, "declared offline")
            assert rec.has("offline")
            proxy.blackhole = False
            await until(lambda: client.online, 5, "back online")
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        proxy.close()


def test_board_of_another_kind_is_refused_at_handshake(io_sim):
    async def scenario():
        with pytest.raises(WrongBoard):
            await BoardClient(io_sim.url, expected_kind="plate-issuer").start(timeout_s=2)

    asyncio.run(scenario())


def test_nothing_listening_raises_board_offline():
    async def scenario():
        with pytest.raises(BoardOffline):
            await BoardClient("socket://127.0.0.1:1", expected_kind="io-board").start(timeout_s=0.5)

    asyncio.run(scenario())


def test_host_gone_silent_leaves_the_open_barrier_open(io_sim):
    ctl = io_sim.control()

    async def scenario():
        io = IoBoardDriver(io_sim.url)
        await io.start()
        await io.open_barrier("entry")
        await io.wait_arm("entry", "open", 5)
        await io.close()  # the host dies

    asyncio.run(scenario())
    fw = io_sim.firmware
    deadline_s = (lb.HOST_SILENCE_MS + 1500) / 1000

    async def wait():
        await until(lambda: fw.logic.host_link == 0, deadline_s, "board notices the host is gone")

    asyncio.run(wait())
    assert ctl.state()["barriers"]["entry"]["arm"] == "open"
    assert ctl.state()["barriers"]["entry"]["light"] == "red"


def test_event_stream_and_estop(io_sim):
    ctl = io_sim.control()

    async def scenario():
        async with IoBoardDriver(io_sim.url) as io:
            seen: list = []

            async def collect():
                async for ev in io.events():
                    seen.append(ev)
                    if ev.name == "estop_changed" and ev.data["pressed"]:
                        return

            task = asyncio.create_task(collect())
            await io.open_barrier("entry")
            await until(lambda: ctl.state()["barriers"]["entry"]["pos"] > 0.2, 5, "arm rising")
            ctl.estop(True)
            await asyncio.wait_for(task, 5)
            await until(lambda: _arm(io, "stopped"), 2, "arm stopped by e-stop")
            with pytest.raises(CommandRefused) as e:
                await io.open_barrier("entry")
            assert e.value.code == lb.E_ESTOP
            ctl.estop(False)
            await until(lambda: _estop_released(io), 2, "e-stop released")
            await io.open_barrier("entry")
            await io.wait_arm("entry", "open", 5)
            names = [ev.name for ev in seen]
            assert "barrier_opening" in names
            assert io.stats.events > 0 and io.stats.events_lost == 0

    asyncio.run(scenario())
    assert io_sim.world_log()  # the world saw it all
    assert any(e["event"] == "arm_stopped" for e in io_sim.world_log())


async def _arm(io: IoBoardDriver, arm: str) -> bool:
    return (await io.status()).barriers["entry"].arm == arm


async def _estop_released(io: IoBoardDriver) -> bool:
    return not (await io.status()).estop


def test_a_command_cancelled_as_its_reply_arrives_raises_the_cancellation():
    """asyncio.wait_for on Python 3.11 returns the reply instead when the cancellation comes just as the reply
    does; a lane's status poll then outlived the lane closing it and reported the closed link as down.
    Here the board's STATUS heartbeat comes in the same read as the reply, and its subscriber cancels the
    caller: the reply is already on the caller's future, and the caller must still see the cancellation."""
    port = FirmwarePort()
    status = lb.encode_frame(0, lb.EV_STATUS, lb.pack_fields(lb.IO_STATUS, [1] + [0] * 10))
    port.extra[lb.GET_STATUS | lb.REPLY_FLAG] = status

    async def scenario():
        client = BoardClient("firmware://in-process", expected_kind="io-board", open_port=lambda: port)
        await client.start()
        try:
            task = asyncio.create_task(client.command(lb.GET_STATUS))
            client.on_event(lambda ev: task.cancel() if ev.name == "status" else None)
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelled()
            port.extra.clear()
            assert (await client.command(lb.PING)).ok  # the link is fine: only the caller was cancelled
        finally:
            await client.close()

    asyncio.run(scenario())
