"""The overview's figures (pure): axis ticks, histogram bins and the limit line, the time base of a sped-up site,
throughput, queue and SLA series per time range, lanes compared, open cases against the limit; and the API over them."""

from __future__ import annotations

import itertools
import time
import tomllib
from pathlib import Path

import pytest
from web_helpers import make_web

from cloud_bridge.config import load_settings
from cloud_bridge.figures import (
    RANGES,
    TimeBase,
    histogram,
    lane_comparison,
    nice_ticks,
    open_case_clocks,
    registration_figures,
    time_series,
)
from cloud_bridge.ingest import classify
from cloud_bridge.rules import RiskRulesConfig
from edge.contract import EventEnvelope, Leaf, topic
from site_sim.site import demo_bridge_config, demo_rules

NOW = 1_790_000_000.0


def case(unit: str, opened: float, closed: float | None, outcome: str | None = "registered", **extra) -> dict:
    return {
        "case_id": f"{unit}-{opened}",
        "unit": unit,
        "opened_at": opened,
        "closed_at": closed,
        "outcome": outcome,
    } | extra


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (4, [0, 1, 2, 3, 4]),
        (7, [0, 2, 4, 6, 8]),
        (12, [0, 5, 10, 15]),
        (37, [0, 10, 20, 30, 40]),
        (40, [0, 10, 20, 30, 40]),
        (230, [0, 50, 100, 150, 200, 250]),
    ],
)
def test_count_ticks_are_whole_nice_numbers_reaching_the_top(top: int, ticks: list[int]) -> None:
    assert nice_ticks(top) == ticks


def test_ticks_never_repeat_and_stay_few_for_any_count() -> None:
    """The old chart labelled round(max * i / 4): a top of 1 or 2 gave 0,0,1,1,1 and 0,1,1,2,2."""
    for top in range(2000):
        t = nice_ticks(top)
        assert t[0] == 0 and t[-1] >= top and len(t) <= 7, top
        assert all(b > a for a, b in itertools.pairwise(t)), (top, t)
        assert all(float(x).is_integer() for x in t), (top, t)
    assert nice_ticks(0.37, integer=False) == [0, 0.1, 0.2, 0.3, 0.4]


def test_histogram_bins_are_minutes_with_the_limit_on_a_bin_edge() -> None:
    h = histogram([12, 15, 18, 29.9, 30, 41], limit_min=30)
    assert h["bin_minutes"] == 2 and h["max_minutes"] == 46 and len(h["counts"]) == 23
    assert h["limit_minutes"] / h["bin_minutes"] == 15  # the line sits on the edge between 28-30 and 30-32
    assert h["counts"][6] == 1 and h["counts"][14] == 1 and h["counts"][15] == 1 and h["counts"][20] == 1
    assert sum(h["counts"]) + h["overflow"] == 6 and h["y_ticks"] == [0, 1]


def test_histogram_widens_its_bins_for_long_times_and_counts_the_rest_as_overflow() -> None:
    h = histogram([5, 50, 100, 500], limit_min=30)
    assert h["max_minutes"] == 120 and h["bin_minutes"] == 5 and h["overflow"] == 1
    assert 30 % h["bin_minutes"] == 0
    assert histogram([], 30)["counts"] == [0] * 23 and histogram([], 30)["y_ticks"] == [0, 1]


def test_a_sped_up_site_shows_simulated_minutes_computed_in_event_time() -> None:
    """The demo at 60x: a registration the lane stamped 16 s apart took 16 simulated minutes; the limit is the
    rules' 30 s of event time (30 simulated minutes). The old dashboard said 16s and put every case in bin 0."""
    durations = [16, 20, 25, 29, 31, 45]  # event seconds
    cases = [case("lane-01", NOW - 100 - d, NOW - 100) for d in durations]
    f = registration_figures(cases, limit_s=30.0, time_base=TimeBase(60.0))
    assert f["median_s"] == pytest.approx(25 * 60) and f["limit_s"] == 1800
    assert f["within_limit_share"] == pytest.approx(4 / 6)
    h = f["histogram"]
    assert h["limit_minutes"] == 30 and h["counts"][0] == 0
    assert sum(h["counts"][:15]) == 4 and sum(h["counts"][15:]) + h["overflow"] == 2
    real = registration_figures(cases, limit_s=1800.0)  # a real site: seconds are seconds
    assert real["median_s"] == pytest.approx(25) and real["within_limit_share"] == 1.0
    assert real["histogram"]["counts"][0] == 6


def test_stage_means_are_in_site_time() -> None:
    c = case("lane-01", NOW - 60, NOW, stage_times={"case.opened": NOW - 60, "case.admitted": NOW - 50})
    (admission, *_rest) = registration_figures([c], 30.0, TimeBase(60.0))["stages"]
    assert admission == {"stage": "stage_admission", "mean_s": 600.0, "n": 1}


def test_series_buckets_throughput_sla_share_and_queue_over_the_range() -> None:
    hour = 3600.0
    cases = [
        case("lane-01", NOW - 3.5 * hour, NOW - 3.4 * hour),  # 6 min, bucket of -4h..-3h
        case("lane-01", NOW - 3.9 * hour, NOW - 3.1 * hour),  # 48 min: over the limit
        case("lane-02", NOW - 0.5 * hour, NOW - 0.2 * hour),  # last bucket
        case("lane-02", NOW - 3.2 * hour, NOW - 2.4 * hour, outcome="rejected"),  # not a registration, but queued
        case("lane-02", NOW - 1.5 * hour, None),  # still open
    ]
    s = time_series(cases, NOW, "24h", limit_s=1800.0)
    b = s["buckets"]
    assert len(b) == 24 and b[-1]["t1"] == NOW and b[0]["t0"] == NOW - 24 * hour
    assert [x["registered"] for x in b[-4:]] == [2, 0, 0, 1]
    assert b[-4]["sla_share"] == 0.5 and b[-1]["sla_share"] == 1.0 and b[-2]["sla_share"] is None
    assert [x["queue"] for x in b[-5:]] == [0, 1, 0, 1, 1]  # open at each bucket's end
    assert s["registered_ticks"] == [0, 1, 2] and s["queue_ticks"] == [0, 1]


@pytest.mark.parametrize("name", list(RANGES))
def test_every_range_has_a_dozen_or_more_buckets_and_scales_with_the_site(name: str) -> None:
    span, bucket = RANGES[name]
    real = time_series([], NOW, name, 1800.0)
    fast = time_series([], NOW, name, 30.0, TimeBase(60.0))
    assert 12 <= len(real["buckets"]) <= 28 and len(fast["buckets"]) == len(real["buckets"])
    assert real["start"] == NOW - span and fast["start"] == NOW - span / 60  # 24 simulated hours: 24 real minutes
    assert fast["bucket_s"] == bucket  # said in site time


def test_lanes_are_compared_over_the_range() -> None:
    hour = 3600.0
    cases = [
        case("lane-01", NOW - 2 * hour, NOW - 2 * hour + 600),
        case("lane-01", NOW - hour, NOW - hour + 2400),
        case("lane-01", NOW - 30 * hour, NOW - 29 * hour),  # before the range
        case("lane-02", NOW - 600, None),
    ]
    rows = lane_comparison(cases, ["lane-01", "lane-02", "lane-03"], NOW - 24 * hour, NOW, 1800.0, TimeBase())
    one, two, three = rows
    assert (one["registered"], one["per_hour"], one["median_s"], one["within_limit_share"], one["open"]) == (
        2,
        pytest.approx(2 / 24),
        600.0,  # nearest rank (edge/stats.py): the lower of two
        0.5,
        0,
    )
    assert (two["registered"], two["open"], two["median_s"]) == (0, 1, None)
    assert three["registered"] == 0 and three["within_limit_share"] is None


def test_open_cases_count_down_to_the_limit_most_urgent_first() -> None:
    cases = [
        case("lane-01", NOW - 10, None, outcome=None, stage="case.admitted"),
        case("lane-02", NOW - 40, None, outcome=None, stage="case.paid"),
        case("lane-01", NOW - 100, NOW - 50),
    ]
    rows = open_case_clocks(cases, NOW, 30.0, TimeBase(60.0))
    assert [r["unit"] for r in rows] == ["lane-02", "lane-01"]
    assert rows[0]["remaining_s"] == -600 and rows[0]["elapsed_s"] == 2400  # 10 simulated minutes over
    assert rows[1]["remaining_s"] == 1200 and rows[1]["stage"] == "case.admitted"


def test_the_api_serves_the_range_asked_for_in_site_time(store, ingest, tmp_path: Path) -> None:
    now = time.time()
    flow = ["case.opened", "case.admitted", "case.inspected", "case.closed"]
    events = [
        EventEnvelope(unit="lane-01", seq=i + 1, ts=now - 40 + 4 * i, kind=k, case_id="lane-01-261207-000001")
        for i, k in enumerate(flow)
    ]
    events.append(EventEnvelope(unit="lane-01", seq=5, ts=now - 5, kind="case.opened", case_id="lane-01-261207-000002"))
    ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), now) for e in events])
    # the closed case took 12 s of event time: 12 simulated minutes at 60x
    web = make_web(store, tmp_path, **{"dashboard.time_scale": 60.0})
    client = web.client()
    client.headers.update(web.bearer("vic"))
    try:
        d = client.get("/api/dashboard", params={"range": "1h"}).json()
        assert d["simulated"] is True and d["time_scale"] == 60.0 and d["range"] == "1h"
        assert d["figures"]["registered"] == 1 and d["figures"]["median_s"] == pytest.approx(720)
        assert len(d["series"]["buckets"]) == 12 and sum(b["registered"] for b in d["series"]["buckets"]) == 1
        assert [c["case_id"] for c in d["open_cases"]] == ["lane-01-261207-000002"]
        assert d["lanes"][0]["unit"] == "lane-01" and d["lanes"][0]["open"] == 1
        assert client.get("/api/dashboard", params={"range": "2y"}).status_code == 422
        assert "模拟现场" in client.get("/?lang=zh-CN").text
    finally:
        web.close()


def test_the_demo_tells_the_bridge_its_speed_and_a_limit_of_thirty_simulated_minutes(tmp_path: Path) -> None:
    """`passlane demo --speed 60` writes the bridge's time scale and the rules' limit in event time (30 s, no floor
    of 60 s that made it 60 simulated minutes): the dashboard's line then sits at 30 simulated minutes."""
    config = tmp_path / "bridge.toml"
    config.write_text(demo_bridge_config(60.0))
    assert load_settings(config, {}).dashboard.time_scale == 60.0
    rules = RiskRulesConfig.model_validate(tomllib.loads(demo_rules(60.0))["rules"])
    assert rules.case_open_limit_s == 30.0
    f = registration_figures([], rules.case_open_limit_s, TimeBase(60.0))
    assert f["limit_s"] == 1800.0 and f["histogram"]["limit_minutes"] == 30.0
    assert load_settings(None, {}).dashboard.time_scale == 1.0  # a real site
