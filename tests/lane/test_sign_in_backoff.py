"""The sign-in back-off on its own (pure: time is an argument)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lane_controller.tablet.backoff import SignInBackoff

ID = ("inspector", "insp-1")
ADDRESS = ("address", "10.0.0.66")


def fail(b: SignInBackoff, times: list[float], keys=(ID, ADDRESS)) -> None:
    for t in times:
        b.failed(keys, t)


def test_four_failures_in_ten_minutes_do_not_lock_the_fifth_does_for_30_s():
    b = SignInBackoff()
    fail(b, [0, 1, 2, 3])
    assert b.retry_after([ID], 3) == 0
    fail(b, [4])
    assert b.retry_after([ID], 4) == 30 and b.retry_after([ADDRESS], 4) == 30
    assert b.retry_after([ID], 33.5) == 1 and b.retry_after([ID], 34) == 0


def test_each_failure_after_a_lock_doubles_it_up_to_15_minutes():
    b = SignInBackoff()
    fail(b, [0, 0, 0, 0, 0])
    now, locks = 0.0, []
    for _ in range(8):
        now += b.retry_after([ID], now)  # wait exactly as long as told, then fail again
        fail(b, [now])
        locks.append(b.retry_after([ID], now))
    assert locks == [60, 120, 240, 480, 900, 900, 900, 900]


def test_failures_spread_wider_than_the_window_never_lock():
    b = SignInBackoff()
    fail(b, [i * 151.0 for i in range(40)])  # 4 in any 10 minutes
    assert b.retry_after([ID, ADDRESS], 40 * 151.0) == 0


def test_a_quiet_window_after_a_lock_forgets_the_key():
    b = SignInBackoff()
    fail(b, [0, 0, 0, 0, 0])  # locked until 30
    fail(b, [30 + 600 + 1])  # quiet for the window after the lock: a fresh start, not a doubled lock
    assert b.retry_after([ID], 631) == 0


def test_the_right_pin_forgives_the_id_but_not_the_address():
    b = SignInBackoff()
    fail(b, [0, 0, 0, 0, 0])
    b.succeeded(ID)
    assert b.retry_after([ID], 1) == 0 and b.retry_after([ADDRESS], 1) == 29


def test_one_locked_key_does_not_lock_another():
    b = SignInBackoff()
    fail(b, [0, 0, 0, 0, 0])
    assert b.retry_after([("inspector", "insp-2"), ("address", "10.0.0.7")], 1) == 0


def test_memory_stays_bounded_when_every_try_uses_a_new_id():
    b = SignInBackoff(max_keys=100)
    for i in range(1000):
        b.failed([("inspector", f"guess-{i}")], float(i))
    assert len(b._keys) <= 100


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=120.0), min_size=1, max_size=200))
def test_however_an_attacker_spaces_the_tries_no_minute_after_the_fifth_failure_holds_more_than_10_pin_checks(gaps):
    b = SignInBackoff()
    now, checked = 0.0, []
    for gap in gaps:
        now += gap
        if b.retry_after([ID, ADDRESS], now) == 0:
            checked.append(now)
            b.failed([ID, ADDRESS], now)
    after = checked[5:]
    assert all(sum(1 for u in after if t <= u < t + 60) <= 10 for t in after)
