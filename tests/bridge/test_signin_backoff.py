"""Dashboard sign-in back-off (issue #16, items 3 and 4).

Failures count per (address, user name) and per user name across addresses
(each address counted only up to `http.login_max_failures`), with a delay
that doubles per further failure. Time is the service's clock, moved by the
test, so "tries per minute" is measured over simulated minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import Web, login_csrf, make_web, sign_in

ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.20"


@pytest.fixture
def web(store, tmp_path: Path) -> Iterator[Web]:
    web = make_web(store, tmp_path)
    yield web
    web.close()


def test_one_address_gets_few_tries_a_minute_once_the_back_off_starts_and_the_user_still_signs_in_from_another_address(
    web: Web,
) -> None:
    attacker = web.client(ATTACKER)
    csrf = login_csrf(attacker)
    checked_at: list[float] = []  # simulated seconds at which the bridge checked a password (not refused outright)
    retry_after: list[str | None] = []
    start = web.clock.t
    for i in range(600):  # one guess a second for ten minutes
        r = attacker.post(
            "/login", data={"name": "vic", "password": f"guess-{i:04d}", "csrf": csrf}, follow_redirects=False
        )
        assert r.status_code in (303, 429), r.text
        if r.status_code == 303:
            assert r.headers["location"] == "/login?error=bad"
            checked_at.append(web.clock.t - start)
        else:
            retry_after.append(r.headers.get("retry-after"))
        web.clock.advance(1.0)
    # vic herself, at the office, is not locked out by the attacker's guesses
    assert sign_in(web.client(OFFICE), "vic").headers["location"] == "/"
    per_minute = [sum(1 for t in checked_at if m * 60 <= t < (m + 1) * 60) for m in range(10)]
    assert per_minute[0] <= 10, per_minute  # 5 free guesses, then 2, 4, 8, 16 s apart
    assert max(per_minute[1:]) <= 1, per_minute  # after that at most one guess a minute
    assert sum(per_minute) <= 16, per_minute
    assert retry_after and all(v is not None and int(v) >= 1 for v in retry_after)


def test_failed_sign_ins_for_other_names_from_one_address_do_not_lock_out_another_user_there(web: Web) -> None:
    shared = web.client(OFFICE)  # one NAT address for a whole office
    csrf = login_csrf(shared)
    for i in range(20):
        r = shared.post(
            "/login", data={"name": f"temp{i % 4}", "password": "wrong password!", "csrf": csrf}, follow_redirects=False
        )
        assert r.headers["location"] == "/login?error=bad"
    assert sign_in(web.client(OFFICE), "ada").headers["location"] == "/"


def test_failures_for_one_user_from_many_addresses_start_a_user_wide_back_off_that_grows(web: Web) -> None:
    for k in range(4):  # 4 addresses x 5 failures: each address alone stays within its free tries
        c = web.client(f"192.0.2.{10 + k}")
        csrf = login_csrf(c)
        for _ in range(5):
            assert sign_in(c, "vic", "wrong password!", csrf).headers["location"] == "/login?error=bad"
    elsewhere = web.client("192.0.2.99")
    refused = sign_in(elsewhere, "vic")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    web.clock.advance(2.5)
    assert sign_in(elsewhere, "vic", "still wrong!!").headers["location"] == "/login?error=bad"
    web.clock.advance(2.5)  # the next delay is twice as long
    assert sign_in(elsewhere, "vic").status_code == 429
    web.clock.advance(2.0)
    assert sign_in(elsewhere, "vic").headers["location"] == "/"


def test_a_thousand_refused_sign_ins_write_a_handful_of_audit_rows_and_the_failed_logins_alert_fires(web: Web) -> None:
    attacker = web.client(ATTACKER)
    csrf = login_csrf(attacker)
    for _ in range(5):
        assert sign_in(attacker, "vic", "wrong password!", csrf).headers["location"] == "/login?error=bad"
    before = len(web.store.audit.entries())
    statuses = []
    for _ in range(1000):  # the probe's rate: a thousand tries in five seconds
        statuses.append(sign_in(attacker, "vic", "wrong password!", csrf).status_code)
        web.clock.advance(0.005)
    assert statuses.count(429) >= 998 and set(statuses) <= {303, 429}  # the back-off lets a guess through after 2 s
    web.clock.advance(120)  # the aggregation window is over; reading the log writes its summary
    assert web.client("127.0.0.1").get("/api/audit", headers=web.bearer("ada")).status_code == 200
    new = [r for r in web.store.audit.entries() if r["id"] > before]
    assert len(new) <= 5, [(r["action"], r["detail"]) for r in new]
    refused = [json.loads(r["detail"]) for r in new if r["action"] == "user.sign_in_refused"]
    assert sum(d.get("count", 1) for d in refused) == statuses.count(429), refused
    assert all(r["actor"] == "vic" for r in new if r["action"] == "user.sign_in_refused")
    assert any(
        a["rule"] == "failed_logins" and "dashboard/vic" in a["dedup_key"] for a in web.store.alerts.recent("active")
    )
    assert web.store.audit.verify() == []


def test_back_off_delay_doubles_per_failure_up_to_the_cap() -> None:
    from cloud_bridge.accounts import backoff_wait

    assert backoff_wait(4, 100.0, free=5, now=100.0, base_s=2.0, cap_s=300.0) == 0.0
    assert backoff_wait(5, 100.0, free=5, now=100.0, base_s=2.0, cap_s=300.0) == 2.0
    assert backoff_wait(7, 100.0, free=5, now=101.0, base_s=2.0, cap_s=300.0) == 7.0
    assert backoff_wait(60, 100.0, free=5, now=100.0, base_s=2.0, cap_s=300.0) == 300.0
    assert backoff_wait(10_000, 100.0, free=5, now=500.0, base_s=2.0, cap_s=300.0) == 0.0


def test_sign_in_tally_writes_the_first_rows_then_one_summary_per_address_and_window() -> None:
    from cloud_bridge.accounts import SignInTally

    tally = SignInTally(window_s=60.0)
    written = [tally.note("user.sign_in_refused", "vic", "a", budget=1, now=t * 0.01) for t in range(500)]
    assert written[0] and not any(written[1:])
    assert tally.due(59.0) == []
    (summary,) = tally.due(61.0)
    assert summary.count == 499 and summary.users == {"vic": 499} and summary.addr == "a"
    assert tally.due(200.0) == []
    assert tally.note("user.sign_in_refused", "vic", "a", budget=1, now=300.0)  # a new window starts with a row again
