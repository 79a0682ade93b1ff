"""The registration case state machine: the happy path, the guards, and no illegal state under random inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.contract import EventKind
from lane_controller import case as C

RULES = C.Rules(items={"passenger_car": ("vin", "tyres")}, required_photos=("0111", "0113"))
VIN = "LSVAU2180N2183294"
RECORDS = {
    "owner": {"name": "张三", "id_number": "110101199003071234"},
    "vehicle": {
        "certificate": {"vin": VIN, "vehicle_type": "passenger_car", "brand_model": "Lavida"},
        "purchase_tax": {"status": "paid"},
        "insurance": {"valid": True},
    },
}

OTHER_VIN = "LFV2A21K8N4000017"
TWO_VEHICLES = C.normalise_partner_answer(  # an owner with two pending cars, the other one uninsured
    {
        "owner": RECORDS["owner"],
        "vehicles": [
            {"vin": OTHER_VIN, "certificate": {"vin": OTHER_VIN}, "purchase_tax": {"status": "paid"}, "insurance": {}},
            {"vin": VIN, **RECORDS["vehicle"]},
        ],
    }
)


def run(steps, case=None, now=0.0):
    if case is None:
        st_ = C.open_case({}, C.Open("c1", "A", id_number="110101199003071234"), now)
        case = st_.case
    out = []
    for inp in steps:
        now += 1
        s = C.step(case, inp, now, RULES)
        case = s.case
        out.append(s)
    return case, out


HAPPY = [
    C.PartnerRecords(RECORDS),
    C.Admit(),
    C.VehiclePassed("entry"),
    C.VinRead(vin=VIN, decision="accept", confidence=0.99, check_digit="valid"),
    C.MarkItem("vin", "pass"),
    C.MarkItem("tyres", "pass"),
    C.Photo("0111", "p1.jpg"),
    C.Photo("0113", "p3.jpg"),
    C.Conclude(),
    C.PlateOptions(("京AB1234", "京AC5678")),
    C.ChoosePlate("京AB1234"),
    C.PlateReserved("京AB1234", 999.0),
    C.PaymentStarted("pay-1", 12500),
    C.PaymentConfirmed("pay-1", 12500),
]


def test_happy_path_goes_from_opened_to_closed_with_one_event_per_transition():
    case, steps = run(HAPPY)
    assert case.stage == C.Stage.PAID
    issue = [a for a in steps[-1].actions if isinstance(a, C.IssuePlates)]
    assert issue and issue[0].job_id == "c1:AB1234"
    case, more = run([C.PlatesIssued(issue[0].job_id), C.Fitted(), C.OpenExit(), C.VehiclePassed("exit")], case, 100)
    assert case.stage == C.Stage.CLOSED and case.outcome == "registered"
    kinds = [e.kind for s in steps + more for e in s.events]
    assert kinds[-1] == EventKind.CASE_CLOSED
    assert EventKind.CASE_PAID in kinds and EventKind.CASE_PLATES_ISSUED in kinds


def test_issuing_before_payment_is_refused():
    case, _ = run(HAPPY[:12])
    assert case.stage == C.Stage.PLATE_RESERVED
    with pytest.raises(C.Refused, match="after the cloud confirms payment"):
        C.step(case, C.Issue(), 50, RULES)


def test_exit_cannot_open_before_plates_are_fitted():
    case, _ = run(HAPPY)
    with pytest.raises(C.Refused):
        C.step(case, C.OpenExit(), 50, RULES)


def test_one_open_case_per_station():
    with pytest.raises(C.Refused, match="already has open case"):
        C.open_case({"A": "c0"}, C.Open("c1", "A", id_number="x"), 0)


def test_entry_barrier_closes_only_after_the_loop_shows_the_vehicle_passed():
    case, steps = run(HAPPY[:3])
    assert not any(isinstance(a, C.CloseBarrier) for a in steps[1].actions)
    assert C.CloseBarrier("entry") in steps[2].actions


def test_failed_inspection_leaves_without_plates():
    steps = HAPPY[:4] + [C.MarkItem("vin", "pass"), C.MarkItem("tyres", "fail"), C.Conclude()]
    case, _ = run(steps)
    assert case.stage == C.Stage.LEAVING and case.outcome == "rejected"
    with pytest.raises(C.Refused):
        C.step(case, C.Issue(), 50, RULES)
    case, _ = run([C.OpenExit(), C.VehiclePassed("exit")], case, 60)
    assert case.stage == C.Stage.CLOSED and case.outcome == "rejected"


def test_a_read_sent_to_review_keeps_the_readers_reason_for_the_tablet():
    case, steps = run(
        HAPPY[:3]
        + [
            C.VinRead(
                vin=VIN,
                decision="review",
                confidence=0.97,
                check_digit="valid",
                ms=3.0,
                review_reason="check_digit_not_required",
            )
        ]
    )
    assert case.stage == C.Stage.ADMITTED and case.vin_needs_review
    assert case.vin_read.review_reason == "check_digit_not_required"
    assert [e.data["review_reason"] for e in steps[-1].events if e.kind == EventKind.CASE_VIN_READ] == [
        "check_digit_not_required"
    ]


def test_vin_differing_from_certificate_needs_review_and_cannot_be_accepted():
    case, _ = run(
        HAPPY[:3] + [C.VinRead(vin="LSVAU2180N2183295", decision="accept", confidence=0.9, check_digit="valid")]
    )
    assert case.stage == C.Stage.ADMITTED and case.vin_needs_review
    with pytest.raises(C.Refused, match="differs from the certificate"):
        C.step(case, C.VinConfirm("LSVAU2180N2183295", "looks right"), 10, RULES)
    with pytest.raises(C.Refused, match="reason"):
        C.step(case, C.VinConfirm(VIN), 10, RULES)
    s = C.step(case, C.VinConfirm(VIN, "reader misread 4 as 5"), 10, RULES)
    assert s.case.stage == C.Stage.VIN_CONFIRMED


def test_abort_before_entry_closes_the_case_at_once():
    case, steps = run([C.Abort("owner left")])
    assert case.stage == C.Stage.CLOSED and case.outcome == "aborted"


def test_hold_blocks_hardware_steps_until_resumed():
    case, _ = run(HAPPY[:1] + [C.Hold("entry barrier fault")])
    with pytest.raises(C.Refused, match="on hold"):
        C.step(case, C.Admit(), 5, RULES)
    case, _ = run([C.Resume(), C.Admit()], case, 6)
    assert case.entry_requested


def test_case_knows_its_age_against_the_promise():
    case, _ = run([])
    assert case.age(100.0) == 100.0
    assert not case.over_promise(60 * 29, 1800) and case.over_promise(60 * 31, 1800)


def test_pending_after_restart_repeats_the_same_issue_job():
    case, steps = run(HAPPY)
    first = [a for a in steps[-1].actions if isinstance(a, C.IssuePlates)]
    assert C.pending(case) == first


# ---------------------------------------------------------------- random sequences


def inputs():
    return st.one_of(
        st.sampled_from([C.PartnerRecords(RECORDS), C.PartnerRecords(TWO_VEHICLES)]),
        st.builds(C.ChooseVehicle, st.sampled_from([VIN, OTHER_VIN, "X"])),
        st.just(C.PartnerLookupFailed("timeout")),
        st.just(C.Admit()),
        st.sampled_from([C.VehiclePassed("entry"), C.VehiclePassed("exit")]),
        st.builds(
            C.VinRead,
            vin=st.sampled_from([VIN, "LSVAU2180N2183295", None]),
            decision=st.sampled_from(["accept", "review", "none"]),
            confidence=st.floats(0, 1),
        ),
        st.builds(C.VinConfirm, st.sampled_from([VIN, "X"]), st.sampled_from([None, "fixed"])),
        st.builds(C.MarkItem, st.sampled_from(["vin", "tyres", "bogus"]), st.sampled_from(["pass", "fail", "na"])),
        st.builds(C.Photo, st.sampled_from(["0111", "0113", "zz"]), st.just("p.jpg")),
        st.just(C.Conclude()),
        st.just(C.PlateOptions(("京AB1234",))),
        st.sampled_from([C.ChoosePlate("京AB1234"), C.ChoosePlate("AB123", True), C.ChoosePlate("京AZZZZZ")]),
        st.sampled_from(
            [C.PlateReserved("京AB1234"), C.PlateReserveFailed("京AB1234", "taken"), C.PlateReserved("京AAB123")]
        ),
        st.sampled_from([C.PaymentStarted("pay-1", 100), C.PaymentConfirmed("pay-1"), C.PaymentConfirmed("pay-2")]),
        st.just(C.Issue()),
        st.sampled_from([C.PlatesIssued("c1:AB1234"), C.PlatesIssued("c1:AAB123"), C.IssueFailed("c1:AB1234", "jam")]),
        st.just(C.Fitted()),
        st.just(C.OpenExit()),
        st.sampled_from([C.Reject("r"), C.Abort("a"), C.Hold("h"), C.Resume(), C.Reject("")]),
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(inputs(), max_size=60))
def test_no_illegal_state_is_reachable_by_any_input_sequence(seq):
    case = C.open_case({}, C.Open("c1", "A", id_number="1"), 0).case
    issued = paid = fitted = False
    now = 0.0
    for inp in seq:
        now += 1
        before = case
        try:
            s = C.step(case, inp, now, RULES)
        except C.Refused:
            continue
        case = s.case
        for a in s.actions:
            if isinstance(a, C.IssuePlates):
                assert case.paid_at is not None and not case.hold, "issue asked before payment"
            if isinstance(a, C.CloseBarrier):
                assert inp == C.VehiclePassed(a.barrier), "close asked without the loop showing the vehicle passed"
            if isinstance(a, C.OpenBarrier) and a.barrier == "exit":
                assert before.stage in (C.Stage.PLATES_FITTED, C.Stage.LEAVING)
        if before.stage == C.Stage.CLOSED:
            raise AssertionError("a closed case changed")
        paid |= case.paid_at is not None
        issued |= case.issued_at is not None
        fitted |= case.stage == C.Stage.PLATES_FITTED
        if case.issued_at is not None:
            assert case.paid_at is not None and case.plate and case.inspection_ok
        if case.stage in (C.Stage.EXIT_OPEN, C.Stage.CLOSED) and case.outcome in (None, "registered"):
            assert case.outcome is None or (issued and fitted and paid)
            assert case.vin == VIN
        if case.outcome == "rejected" and case.inspection_ok is False:
            assert case.issued_at is None
        if case.stage in (C.Stage.VIN_CONFIRMED, C.Stage.INSPECTED, C.Stage.PAID):
            assert case.vin == case.certificate_vin
        if case.entry_requested:  # no car is let in before the inspector has said which of the owner's it is
            assert not case.needs_vehicle_choice and not case.record_problems


def test_the_bridge_partner_answer_is_normalised_to_one_vehicle_with_its_problems(tmp_path):
    """The answer as the bridge builds it (its reference-data adapter over its own store), for an uninsured BEV."""
    from cloud_bridge.reference import Insurance, PurchaseTax, ReferenceDataAdapter, generate, load_into
    from cloud_bridge.store import open_store

    data, _ = generate(5, seed=11)
    v = data.vehicles[0]
    v = v.model_copy(
        update={
            "insurance": Insurance(status="missing"),
            "purchase_tax": PurchaseTax(status="paid"),
            "certificate": v.certificate.model_copy(update={"fuel_type": "bev", "vin": v.vin}),
        }
    )
    data = data.model_copy(update={"vehicles": [v]})
    store = open_store(str(tmp_path / "bridge.sqlite3"))
    store.migrate()
    try:
        load_into(store, data)
        answer = ReferenceDataAdapter(store).lookup(id_number=v.owner_id_number)
    finally:
        store.close()
    rec = C.normalise_partner_answer({"owner": answer.owner.model_dump(), "vehicles": answer.vehicles})
    cert = rec["vehicle"]["certificate"]
    assert (
        cert["vin"] == v.vin
        and cert["brand_model"] == f"{v.certificate.brand} {v.certificate.model}"
        and cert["new_energy"] is True
    )
    case = C.open_case({}, C.Open("c1", "A", id_number="x"), 0).case
    s = C.step(case, C.PartnerRecords(rec), 1, RULES)
    assert s.case.record_problems == ["no valid compulsory insurance"]
    with pytest.raises(C.Refused, match="insurance"):
        C.step(s.case, C.Admit(), 2, RULES)


def test_an_owner_with_several_pending_vehicles_is_asked_which_one_is_at_the_lane():
    """An ID card names the owner, not the car: the inspector chooses, and only the chosen car's records count."""
    assert TWO_VEHICLES["vehicle"] == {} and [v["vin"] for v in TWO_VEHICLES["vehicles"]] == [OTHER_VIN, VIN]
    case, steps = run([C.PartnerRecords(TWO_VEHICLES)])
    assert case.needs_vehicle_choice and case.vehicle_choices == [OTHER_VIN, VIN]
    assert case.record_problems == [] and case.certificate_vin is None
    assert "vehicles" not in steps[0].events[0].data["records"]  # the event names the choices by VIN only
    assert C.waiting_for(case) == "inspector to choose the vehicle"
    with pytest.raises(C.Refused, match="choose which"):
        C.step(case, C.Admit(), 10, RULES)
    with pytest.raises(C.Refused, match="not one of the owner's"):
        C.step(case, C.ChooseVehicle("LSVAU2180N2183295"), 10, RULES)
    wrong = C.step(case, C.ChooseVehicle(OTHER_VIN.lower()), 10, RULES)  # the inspector picks the uninsured one
    assert wrong.case.certificate_vin == OTHER_VIN and wrong.case.record_problems == ["no valid compulsory insurance"]
    assert wrong.events[0].kind == EventKind.CASE_PARTNER_RECORDS and wrong.events[0].data["chosen"] == OTHER_VIN
    with pytest.raises(C.Refused, match="insurance"):
        C.step(wrong.case, C.Admit(), 11, RULES)
    right = C.step(wrong.case, C.ChooseVehicle(VIN), 12, RULES)  # and corrects it before the car enters
    assert right.case.certificate_vin == VIN and right.case.record_problems == []
    assert right.case.partner["other_vehicles"] == [OTHER_VIN] and not right.case.needs_vehicle_choice
    admitted = C.step(right.case, C.Admit(), 13, RULES).case
    with pytest.raises(C.Refused, match="before it enters"):
        C.step(admitted, C.ChooseVehicle(OTHER_VIN), 14, RULES)
    single, _ = run([C.PartnerRecords(RECORDS)])
    with pytest.raises(C.Refused, match="nothing to choose"):
        C.step(single, C.ChooseVehicle(VIN), 10, RULES)


def test_a_fleet_owner_is_offered_at_most_twenty_cars_and_told_how_many_more_there_are():
    cars = [{"vin": f"LSVAU2180N21{i:05d}", "certificate": {"brand": "VW"}} for i in range(23)]
    rec = C.normalise_partner_answer({"owner": RECORDS["owner"], "vehicles": cars})
    assert len(rec["vehicles"]) == C.MAX_VEHICLE_CHOICES == 20 and rec["vehicles_not_listed"] == 3
    assert "vehicles_not_listed" not in TWO_VEHICLES
    one = C.normalise_partner_answer({"owner": RECORDS["owner"], "vehicles": cars}, vin=cars[22]["vin"])
    assert one["vehicle"]["vin"] == cars[22]["vin"] and "vehicles" not in one  # a known VIN finds its car at once


# ---------------------------------------------------------------- many cases, several stations

from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402


class LaneOfCases(RuleBasedStateMachine):
    """Cases opened, driven and closed at random across two stations: never two open cases at one station."""

    def __init__(self) -> None:
        super().__init__()
        self.cases: dict[str, C.Case] = {}
        self.now = 0.0
        self.n = 0

    def _open_by_station(self) -> dict[str, str]:
        return {c.station: c.case_id for c in self.cases.values() if c.is_open}

    @rule(station=st.sampled_from(["A", "B"]))
    def open(self, station):
        self.n += 1
        self.now += 1
        try:
            s = C.open_case(self._open_by_station(), C.Open(f"c{self.n}", station, id_number="1"), self.now)
        except C.Refused:
            assert station in self._open_by_station()
            return
        self.cases[s.case.case_id] = s.case

    @rule(data=st.data(), inp=inputs())
    def drive(self, data, inp):
        open_ = [c for c in self.cases.values() if c.is_open]
        if not open_:
            return
        case = data.draw(st.sampled_from(sorted(open_, key=lambda c: c.case_id)))
        self.now += 1
        try:
            self.cases[case.case_id] = C.step(case, inp, self.now, RULES).case
        except C.Refused:
            pass

    @invariant()
    def one_open_case_per_station(self):
        stations = [c.station for c in self.cases.values() if c.is_open]
        assert len(stations) == len(set(stations))

    @invariant()
    def nothing_issued_unpaid(self):
        assert all(c.issued_at is None or c.paid_at is not None for c in self.cases.values())


TestLaneOfCases = LaneOfCases.TestCase
TestLaneOfCases.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_every_review_reason_the_reader_gives_has_tablet_text_in_both_languages():
    import typing

    from lane_controller.i18n import STRINGS
    from vision import VinRead as ReaderVinRead

    reasons = typing.get_args(typing.get_args(ReaderVinRead.model_fields["review_reason"].annotation)[0])
    assert reasons
    for reason in reasons:
        assert set(STRINGS[f"review_{reason}"]) == {"zh-CN", "en"}
