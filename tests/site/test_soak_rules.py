"""`bench soak`: a lane is flat only when its memory, open files and threads stay put after the warm-up; the
attendant keeps the plate magazines stocked over a thousand cars."""

from __future__ import annotations

from site_sim.bench.soak import RSS_SLACK_MB, Sample, verdict


def _s(vehicles: int, rss: float, files: int = 20, threads: int = 14) -> Sample:
    return Sample(vehicles, rss, files, threads, outbox_depth=0, case_s_median=1.0)


def test_steady_figures_are_flat():
    flat, why = verdict([_s(50, 130.0), _s(500, 131.5), _s(1000, 130.0 + RSS_SLACK_MB)])
    assert flat
    assert "from car 50 to car 1000" in why


def test_memory_growing_past_the_slack_is_not_flat():
    flat, why = verdict([_s(50, 130.0), _s(1000, 130.0 + RSS_SLACK_MB + 0.5)])
    assert not flat
    assert "RSS +4.5 MB" in why


def test_a_leaked_descriptor_or_thread_per_hundred_cars_is_not_flat():
    assert not verdict([_s(50, 130.0), _s(1000, 130.0, files=30)])[0]
    assert not verdict([_s(50, 130.0), _s(1000, 130.0, threads=24)])[0]


def test_the_attendant_tops_up_a_magazine_running_low_and_leaves_the_others():
    from firmware.sim.server import SimBoardServer
    from site_sim.attendant import MAGAZINE, REFILL_BELOW, top_up_magazines

    server = SimBoardServer("plate-issuer", time_scale=100).start()
    try:
        mechanism = server.control()
        mechanism.inject_fault("magazine_empty")
        mechanism.refill("green", REFILL_BELOW)  # green is not low yet
        assert top_up_magazines(mechanism) == ["blue", "yellow"]
        assert mechanism.state()["magazines"] == {"blue": MAGAZINE, "green": REFILL_BELOW, "yellow": MAGAZINE}
    finally:
        server.stop()
