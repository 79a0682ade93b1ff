"""What the tablet is told, without a browser: the step a case is at, the queue the lane holds, the camera without
its path, the payment QR code, and the end-or-pause reasons in Chinese."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from lane_controller import case as C
from lane_controller import views
from lane_controller.i18n import CASE_REASONS, END_REASONS, STRINGS, translate_reason

RULES = C.Rules(items={"passenger_car": ("vin",)}, required_photos=("0111",))
VIN = "LSVAU2180N2183294"
RECORDS = {
    "owner": {"name": "张三", "id_number": "110101199003071234"},
    "vehicle": {
        "certificate": {"vin": VIN, "brand_model": "大众 朗逸", "colour": "白", "new_energy": True},
        "purchase_tax": {"status": "paid"},
        "insurance": {"valid": True},
    },
}


def _case(case_id: str, *inputs: C.Input, opened_at: float = 0.0) -> C.Case:
    case = C.open_case({}, C.Open(case_id, "A", id_number="110101199003071234"), opened_at).case
    for n, inp in enumerate(inputs):
        case = C.step(case, inp, opened_at + n + 1, RULES).case
    return case


def _lane(
    cases: list[C.Case], *, entry_loop: bool = False, source: str = "/tmp/x/camera", time_scale: float = 1.0
) -> Any:
    """The parts of a Lane the views read."""
    return SimpleNamespace(
        cases={c.case_id: c for c in cases},
        waiting={},
        clock=lambda: 100.0,
        cfg=SimpleNamespace(
            promise_minutes=30,
            promise_lane_s=30 * 60 / time_scale,
            ui=SimpleNamespace(time_scale=time_scale),
            camera=SimpleNamespace(source=source),
        ),
        last_hw_status={"barriers": {"entry": {"loop_occupied": entry_loop}}},
        alerts={},
        camera=SimpleNamespace(fps=None),
        reader=SimpleNamespace(status="loaded"),
    )


ADMITTED = (C.PartnerRecords(RECORDS), C.Admit(), C.VehiclePassed("entry"))


def test_each_stage_has_one_step_and_the_step_names_its_primary_action() -> None:
    assert views.current_step(_case("c")) == "records"
    assert views.current_step(_case("c", C.PartnerRecords(RECORDS))) == "admit"
    assert views.current_step(_case("c", C.PartnerRecords(RECORDS), C.Admit())) == "entering"
    assert views.current_step(_case("c", *ADMITTED)) == "vin_reading"
    read = C.VinRead(vin=VIN, decision="accept", confidence=0.99, check_digit="valid")
    assert views.current_step(_case("c", *ADMITTED, read)) == "inspection"  # the reader confirmed it
    held = _case("c", C.PartnerRecords(RECORDS), C.Hold("owner left"))
    assert views.current_step(held) == "hold" and views.STEP_ACTIONS["hold"] == ("hold", "resume")
    problem = {**RECORDS, "vehicle": {**RECORDS["vehicle"], "insurance": {"valid": False}}}
    assert views.current_step(_case("c", C.PartnerRecords(problem))) == "records_problem"
    assert views.current_step(_case("c", C.Abort("owner left"))) == "closed"
    for step, (name, _action) in views.STEP_ACTIONS.items():
        assert f"step_{name}" in STRINGS, step


def test_an_issuer_fault_holds_the_case_and_a_retried_job_at_work_reads_as_issuing() -> None:
    read = C.VinRead(vin=VIN, decision="accept", confidence=0.99, check_digit="valid")
    paid = _case(
        "c",
        *ADMITTED,
        read,
        C.MarkItem("vin", "pass"),
        C.Photo("0111", "p.jpg"),
        C.Conclude(),
        C.PlateOptions(("苏AD12345",)),
        C.ChoosePlate("苏AD12345"),
        C.PlateReserved("苏AD12345"),
        C.PaymentConfirmed("pay-1", 100),
    )
    assert views.current_step(paid) == "issuing"
    jammed = C.step(paid, C.IssueFailed(paid.issue_job or "", "jam"), 50, RULES).case
    assert views.current_step(jammed) == "hold"  # its primary action: Resume, which re-sends the same job
    resumed = C.step(jammed, C.Resume(), 60, RULES).case
    assert views.current_step(resumed) == "issue_failed"
    lane = _lane([resumed])
    assert views.case_summary(lane, resumed)["step"] == "issue_failed"
    lane.waiting[resumed.case_id] = "plate issuer working"
    assert views.case_summary(lane, resumed)["step"] == "issuing"


def test_the_queue_lists_the_cases_whose_car_has_not_entered_and_counts_the_cars_inside() -> None:
    inside = _case("in", *ADMITTED, opened_at=1.0)
    first = _case("first", C.PartnerRecords(RECORDS), opened_at=2.0)
    second = _case("second", opened_at=3.0)
    q = views.queue(_lane([second, inside, first], entry_loop=True))
    assert [w["case_id"] for w in q["waiting"]] == ["first", "second"]  # oldest first
    assert q["in_lane"] == 1 and q["at_entry"]  # a car on the entry loop no case has let in
    assert q["waiting"][0]["vehicle"] == {
        "brand_model": "大众 朗逸",
        "colour": "白",
        "new_energy": True,
        "plate": None,
        "vin": VIN,
        "choices": 0,
    }
    letting_in = _case("first", C.PartnerRecords(RECORDS), C.Admit())
    assert not views.queue(_lane([letting_in], entry_loop=True))["at_entry"]  # that car is the one let in


def test_the_camera_is_named_by_kind_never_by_its_folder_or_stream_address() -> None:
    assert views.camera_of(_lane([], source="/tmp/passlane-demo-1/camera"))["name"] == ""
    stream = views.camera_of(_lane([], source="rtsp://admin:secret@10.0.0.7:554/stream1"))
    assert stream["kind"] == "stream" and stream["name"] == "10.0.0.7" and "secret" not in str(stream)
    assert views.camera_of(_lane([], source="0"))["kind"] == "device"


def test_the_payment_link_becomes_an_svg_qr_code_with_no_inline_style() -> None:
    url = "https://pay.example.cn/p/PAY-123?sig=abc"
    svg = views.payment_qr(url)
    assert svg is not None and svg.startswith("<svg") and "<path" in svg
    assert url not in svg and "style=" not in svg  # the page's Content-Security-Policy forbids inline styles
    assert views.payment_qr("") is None


def test_every_preset_reason_is_said_in_chinese_also_with_the_inspectors_own_words() -> None:
    for action, presets in END_REASONS.items():
        assert presets[-1] == "other", action
        for preset in presets:
            assert preset in CASE_REASONS
    assert translate_reason("owner left", "zh-CN") == "车主离开"
    assert translate_reason("waiting for documents: 行驶证复印件", "zh-CN") == "等候材料：行驶证复印件"
    assert translate_reason("on hold: owner away for a moment", "zh-CN") == "暂停：车主暂时离开"
    assert translate_reason("on hold: io-board: link down", "zh-CN") == "暂停：I/O 板：通信中断"
    assert translate_reason("inspection failed: vin, tyres", "zh-CN") == "查验不合格：车辆识别代号、轮胎完好情况"
    assert translate_reason("owner left", "en") == "owner left"


def test_a_plate_is_drawn_blue_for_an_ordinary_car_and_green_for_a_new_energy_car() -> None:
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader

    import lane_controller

    templates = Path(lane_controller.__file__).parent / "templates"
    car = Environment(loader=FileSystemLoader(templates), autoescape=True).get_template("_car.html")
    words = {"t": lambda k: k, "value": lambda k: k, "colour": lambda k: k}
    ordinary = car.render(car={"brand_model": "大众 朗逸", "colour": "白", "plate": "苏A12345"}, **words)
    nev = car.render(car={"brand_model": "比亚迪 汉", "new_energy": True, "plate": "苏AD12345"}, **words)
    assert "plate-blue" in ordinary and "plate-nev" not in ordinary and "苏A12345" in ordinary
    assert "plate-nev" in nev and "plate-blue" not in nev
    css = (Path(lane_controller.__file__).parent / "static" / "app.css").read_text()
    assert ".plate-blue { background:#1d4ed8; color:#fff; }" in css
    assert ".plate-nev { background:linear-gradient(" in css and "color:#000" in css.split(".plate-nev")[1][:120]


def test_a_sped_up_site_shows_case_times_and_the_promise_in_its_own_minutes() -> None:
    case = _case("c", C.PartnerRecords(RECORDS), opened_at=60.0)  # 40 lane seconds old at the clock's 100
    real = views.case_summary(_lane([case]), case)
    assert real["age_s"] == 40.0 and not real["over_promise"]
    fast = views.case_summary(_lane([case], time_scale=60.0), case)  # 40 s at 60x: 40 simulated minutes
    assert fast["age_s"] == 2400.0 and fast["over_promise"]
