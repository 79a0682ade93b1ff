"""Plate issuer firmware: job idempotency, journal across resets, faults.
Runs under MicroPython and CPython."""

from fw_fakes import FakeHal, reply_to

from firmware import lanebus as lb
from firmware.plate_issuer import (
    FEED_TIMEOUT_MS,
    MAGAZINE_SHIFT,
    S_PRINTER_BUSY,
    IssuerLogic,
    decode_journal,
    encode_journal,
)


def make_plate(logic, hal, now):
    """Drive the mechanism through one plate: feed -> print -> eject."""
    logic.update(now, lb.S_PLATE_AT_PRINTER)  # blank in position: printing starts
    now += 10
    logic.update(now, lb.S_PLATE_AT_PRINTER | S_PRINTER_BUSY)
    now += 10
    logic.update(now, lb.S_PLATE_AT_PRINTER)  # printer done
    now += 10
    logic.update(now, lb.S_EXIT_BEAM)
    now += 10
    logic.update(now, 0)
    return now + 10


def test_issue_starts_feeding_the_right_magazine():
    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    res, rec, _ = logic.issue(b"J1", 1, b"AD12345", 0)
    assert res == lb.OK and rec[2] == lb.JOB_FEEDING
    assert hal.mech == [("feed", 1)]


def test_repeated_issue_with_same_job_id_never_starts_a_second_pair():
    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    now = make_plate(logic, hal, 10)
    now = make_plate(logic, hal, now)
    assert logic.find(b"J1").state == lb.JOB_DONE
    feeds = len([m for m in hal.mech if m[0] == "feed"])
    res, rec, _ = logic.issue(b"J1", 0, b"A12345", now)
    assert res == lb.OK and rec[2] == lb.JOB_DONE and rec[3] == 2
    assert len([m for m in hal.mech if m[0] == "feed"]) == feeds == 2


def test_same_job_id_with_other_text_is_a_conflict():
    logic = IssuerLogic(FakeHal(), 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    assert logic.issue(b"J1", 0, b"B99999", 0)[0] == lb.E_JOB_CONFLICT


def test_second_job_while_busy_is_refused():
    logic = IssuerLogic(FakeHal(), 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    assert logic.issue(b"J2", 0, b"A12346", 0)[0] == lb.E_BUSY


def test_empty_magazine_refuses_a_new_job():
    logic = IssuerLogic(FakeHal(), 0)
    logic.update(0, 1 << (MAGAZINE_SHIFT + 2))
    assert logic.issue(b"J1", 2, b"A12345", 0)[0] == lb.E_MAGAZINE_EMPTY


def test_feed_timeout_is_a_jam_and_clear_fault_resumes_only_the_missing_plate():
    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    now = make_plate(logic, hal, 10)
    logic.update(now + FEED_TIMEOUT_MS + 10, 0)  # second blank never arrives
    job = logic.find(b"J1")
    assert logic.state == lb.ISSUER_FAULT and logic.fault == lb.FAULT_JAM
    assert job.state == lb.JOB_PAUSED and job.plates_done == 1
    res, _, _ = logic.clear_fault(now)
    assert res == lb.OK and job.state == lb.JOB_FEEDING
    now = make_plate(logic, hal, now + FEED_TIMEOUT_MS + 100)
    assert job.state == lb.JOB_DONE and job.plates_done == 2


def test_cover_open_pauses_and_clear_is_refused_until_closed():
    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    logic.update(5, lb.S_COVER_OPEN)
    assert logic.fault == lb.FAULT_COVER_OPEN
    assert logic.clear_fault(6)[0] == lb.E_COVER_OPEN
    logic.update(7, 0)
    assert logic.clear_fault(8)[0] == lb.OK


def test_journal_survives_reset_and_interrupted_job_is_not_resumed():
    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    make_plate(logic, hal, 10)
    # power cut: a new firmware instance on the same flash
    hal2 = FakeHal()
    hal2.journal = hal.journal
    logic2 = IssuerLogic(hal2, 0)
    job = logic2.find(b"J1")
    assert job.state == lb.JOB_INTERRUPTED and job.plates_done == 1
    assert logic2.state == lb.ISSUER_FAULT
    res, rec, _ = logic2.issue(b"J1", 0, b"A12345", 0)
    assert res == lb.OK and rec[2] == lb.JOB_INTERRUPTED
    assert hal2.mech == []  # nothing was fed again


def test_journal_encoding_round_trips_and_keeps_whole_records_of_a_torn_write():
    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    logic.find(b"J1").state = lb.JOB_DONE
    logic.issue(b"J2", 1, b"AD12345", 0)
    data = encode_journal(logic.jobs)
    assert [j.job_id for j in decode_journal(data)] == [b"J1", b"J2"]
    assert [j.job_id for j in decode_journal(data[:-3])] == [b"J1"]
    assert decode_journal(b"junk") == []


def test_printer_that_never_starts_is_a_print_failure():
    from firmware.plate_issuer import PRINT_START_MS

    hal = FakeHal()
    logic = IssuerLogic(hal, 0)
    logic.issue(b"J1", 0, b"A12345", 0)
    logic.update(10, lb.S_PLATE_AT_PRINTER)
    logic.update(20, lb.S_PLATE_AT_PRINTER)  # not busy yet: must not eject
    assert logic.state == lb.ISSUER_PRINTING
    logic.update(30 + PRINT_START_MS, lb.S_PLATE_AT_PRINTER)
    assert logic.fault == lb.FAULT_PRINT_FAILURE


def _issuer_board():
    from firmware.plate_issuer import PlateIssuer

    hal = FakeHal(now=100)
    board = PlateIssuer(hal)
    board.step()
    hal.received()
    return hal, board


def _reply(hal, board, seq, mtype, body):
    hal.send(seq, mtype, body=body)
    board.step()
    return reply_to(hal.received(), seq, mtype)


def test_issue_with_a_job_id_or_text_that_is_not_utf8_is_refused_with_bad_field():
    """Before: answered OK, printed plates reading the replacement character and sent the bytes back in
    STATUS and events.  Now: BAD_FIELD with the 0-based index of the field, and nothing moves."""
    hal, board = _issuer_board()
    fields = lb.request_fields(lb.ISSUE, lb.KIND_PLATE_ISSUER)
    bad_id = _reply(hal, board, 1, lb.ISSUE, lb.pack_fields(fields, [b"J\xff1", 0, b"A12345"]))
    assert list(bad_id.body) == [lb.E_BAD_FIELD, 0]
    bad_text = _reply(hal, board, 2, lb.ISSUE, lb.pack_fields(fields, [b"J1", 0, b"\xe4\xba"]))  # cut-off character
    assert list(bad_text.body) == [lb.E_BAD_FIELD, 2]
    surrogate = _reply(hal, board, 3, lb.ISSUE, lb.pack_fields(fields, [b"J1", 0, b"\xed\xa0\x80"]))
    assert list(surrogate.body) == [lb.E_BAD_FIELD, 2]
    status = _reply(hal, board, 4, lb.JOB_STATUS, lb.pack_fields((("job_id", "str"),), [b"\xc0\xaf"]))
    assert list(status.body) == [lb.E_BAD_FIELD, 0]
    assert hal.mech == [] and board.logic.jobs == [] and hal.journal is None
    ok = _reply(hal, board, 5, lb.ISSUE, lb.pack_fields(fields, ["J1", 0, "京A12345"]))
    assert ok.body[0] == lb.OK and hal.mech == [("feed", 0)]


def test_job_events_carry_the_job_state_they_were_raised_in():
    """A jam (paused) and the operator's CLEAR_FAULT (feeding) in one loop step: the ring keeps both
    states, as the list it replaced did."""
    from firmware.plate_issuer import send_queued_events

    hal, board = _issuer_board()
    logic = board.logic
    logic.issue(b"J1", 0, b"A12345", 0)
    logic.update(FEED_TIMEOUT_MS + 10, 0)  # the blank never arrives: jam
    logic.clear_fault(FEED_TIMEOUT_MS + 20)
    send_queued_events(logic, board.link, FEED_TIMEOUT_MS + 20)
    sent = [p for p in hal.received() if p.mtype in (lb.EV_JOB_PROGRESS, lb.EV_FAULT)]
    states = [(p.mtype, lb.unpack_fields(lb.request_fields(p.mtype, lb.KIND_PLATE_ISSUER), p.body)) for p in sent]
    assert states == [
        (lb.EV_JOB_PROGRESS, [b"J1", 0, lb.JOB_FEEDING, 0, 0]),
        (lb.EV_JOB_PROGRESS, [b"J1", 0, lb.JOB_PAUSED, 0, lb.FAULT_JAM]),
        (lb.EV_FAULT, [lb.FAULT_JAM, 1, b"J1"]),
        (lb.EV_FAULT, [lb.FAULT_JAM, 0, b"J1"]),
        (lb.EV_JOB_PROGRESS, [b"J1", 0, lb.JOB_FEEDING, 0, 0]),
    ]


def test_pushing_an_issuer_event_does_not_allocate():
    from firmware.event_queue import EventQueue
    from firmware.plate_issuer import EVENT_QUEUE_SIZE

    q = EventQueue(EVENT_QUEUE_SIZE)
    job = object()
    out = [0]

    def run():
        for _ in range(3 * EVENT_QUEUE_SIZE):
            q.push(lb.EV_JOB_PROGRESS, lb.JOB_FEEDING, 1, 0, job)
            q.pop_into(out)

    _heap_locked(run)
    assert out[0] == lb.EV_JOB_PROGRESS and len(q) == 0


def _heap_locked(fn):
    try:
        import micropython

        lock = micropython.heap_lock
        unlock = micropython.heap_unlock
    except (ImportError, AttributeError):
        fn()
        return
    lock()
    try:
        fn()
    finally:
        unlock()
