"""A noisy line: a proxy between host and simulated board corrupts 1% of the
bytes and drops 1% of the frames, both directions.  Every command still
completes, each is executed exactly once by the board, every event arrives
once and in order, no plate is issued twice, and the link counters show the
errors."""

from __future__ import annotations

import asyncio
import collections

from lanebus_helpers import NoisyProxy, until

from edge.lanebus import IoBoardDriver, PlateIssuerDriver
from firmware import lanebus as lb

FAST = {
    "reply_timeout_s": 0.08,
    "max_attempts": 50,
    "reopen_interval_s": 0.1,
}  # quick retries, but patient under CPU load


def test_every_io_command_completes_exactly_once_over_a_noisy_line(io_sim):
    proxy = NoisyProxy(io_sim.port, corrupt=0.01, drop=0.01, seed=7)
    n_light = n_open = n_close = 0

    seqs: list[int] = []

    async def scenario():
        nonlocal n_light, n_open, n_close
        async with IoBoardDriver(proxy.url, **FAST) as io:
            io.on_event(lambda ev: seqs.append(ev.seq) if ev.seq else None)
            for i in range(120):
                await io.set_light("entry", ("red", "green")[i % 2])
                n_light += 1
                if i % 10 == 0:
                    await io.open_barrier("exit")
                    n_open += 1
                if i % 10 == 5:
                    await io.close_barrier("exit")
                    n_close += 1
            board_link = io_sim.firmware.link
            await until(lambda: seqs and seqs[-1] == board_link._event_seq, 10, "all events delivered")
            return io.stats

    try:
        stats = asyncio.run(scenario())
    finally:
        proxy.close()
    executed = io_sim.firmware.link.executed
    assert executed[lb.SET_LIGHT] == n_light
    assert executed[lb.BARRIER_OPEN] == n_open
    assert executed[lb.BARRIER_CLOSE] == n_close
    assert proxy.bytes_corrupted > 0 and proxy.frames_dropped > 0
    assert stats.retransmits > 0 and stats.timeouts > 0
    assert stats.crc_errors + stats.frame_errors > 0
    assert io_sim.firmware.link.duplicates > 0  # some replies were lost and answered from the cache
    # events: each exactly once, in order, none skipped (the board re-sent the lost ones)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert stats.events_lost == 0 and io_sim.firmware.link.events_resent > 0


def test_no_plate_is_issued_twice_over_a_noisy_line(issuer_sim):
    proxy = NoisyProxy(issuer_sim.port, corrupt=0.01, drop=0.01, seed=11)
    jobs = [(f"N-{i}", f"京N{i:05d}") for i in range(8)]

    async def scenario():
        async with PlateIssuerDriver(proxy.url, **FAST) as pi:
            for job_id, text in jobs:
                await pi.issue(job_id, "blue", text)
                await pi.issue(job_id, "blue", text)  # a deliberate repeat, too
                await pi.wait_job(job_id, timeout_s=20, poll_s=0.05)
            return pi.stats

    try:
        stats = asyncio.run(scenario())
    finally:
        proxy.close()
    issued = collections.Counter(p["text"] for p in issuer_sim.control().state()["issued"])
    assert issued == {text: 2 for _, text in jobs}
    assert issuer_sim.firmware.link.executed[lb.ISSUE] <= 2 * len(jobs)
    assert stats.retransmits > 0
